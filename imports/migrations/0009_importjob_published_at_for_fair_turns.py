from django.db import migrations, models
from django.db.models import F


def queued_jobs_were_published(apps, schema_editor):
    """Before turns, every queued job was sent to the broker as it was created: mark them so."""
    ImportJob = apps.get_model("imports", "ImportJob")
    ImportJob.objects.filter(status="queued").update(published_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0008_import_attempts_counted_per_phase"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="published_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(queued_jobs_were_published, migrations.RunPython.noop),
    ]
