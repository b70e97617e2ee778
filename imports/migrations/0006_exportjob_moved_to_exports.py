"""ExportJob now belongs to the exports app (exports/0001 took its table and rows): drop it
from this app's state only, no SQL."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0005_importchunk_part_starts"),
        ("exports", "0001_exportjob_moved_from_imports"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ExportJob")], database_operations=[]),
    ]
