from django.db import migrations, models
from django.db.models import Count


def _no_url_twice(apps, schema_editor):
    """The index cannot be built over a dataset that holds one URL twice (two imports racing
    before it existed): say which, and how to go on, instead of a bare IntegrityError."""
    Media = apps.get_model("projects", "Media")
    twice = list(
        Media.objects.filter(deleted_at__isnull=True, global_key__isnull=True, source="URL")
        .values("dataset_id", "url")
        .annotate(count=Count("id"))
        .filter(count__gt=1)
        .order_by("dataset_id", "url")[:5]
    )
    if twice:
        listed = "; ".join(f"dataset {row['dataset_id']}: {row['url']} ({row['count']} media)" for row in twice)
        raise RuntimeError(
            f"Some datasets hold the same URL media more than once ({listed}). Delete the extra media of "
            "each URL (on the dataset page, or PATCH their global key if they are distinct data rows), then "
            "run the migrations again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0006_media_browser_indexes'),
    ]

    operations = [
        migrations.RunPython(_no_url_twice, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='media',
            constraint=models.UniqueConstraint(condition=models.Q(('deleted_at__isnull', True), ('global_key__isnull', True), ('source', 'URL')), fields=('dataset', 'url'), name='media_unique_live_url'),
        ),
    ]
