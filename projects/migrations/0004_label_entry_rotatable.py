# A rectangle class may let the labeling page turn its boxes (issue 16 point 2).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0003_membership_invitation'),
    ]

    operations = [
        migrations.AddField(
            model_name='labelentry',
            name='rotatable',
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
