# Rectangles carry their rotation (issue 16 point 2).

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0008_task_reservation_attribution_label_updated_by'),
        ('projects', '0003_membership_invitation'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='label',
            name='rotation',
            field=models.FloatField(db_default=0.0, default=0.0),
        ),
        migrations.AddConstraint(
            model_name='label',
            constraint=models.CheckConstraint(condition=models.Q(('rotation__gt', -180.0), ('rotation__lte', 180.0)), name='label_rotation_normalised'),
        ),
    ]
