# The task browser (issue 18 point 4): lists of tasks leave deleted media out through a small partial
# index, sort by name through an index, and search names, global keys and external ids through
# trigram indexes on PostgreSQL.

from django.db import migrations, models, transaction

#: Trigram indexes of the texts the task browser searches with ILIKE '%...%' (PostgreSQL only).
TRIGRAM_INDEXES = {
    "media_name_trgm": "name",
    "media_global_key_trgm": "global_key",
    "media_external_id_trgm": "external_id",
}


def trigram_indexes_create(apps, schema_editor):
    """pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Where it
    cannot be created the indexes are left out and searches scan the media instead (slower, right)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # noqa: BLE001 - no permission: the search works without the indexes
            return
        for name, column in TRIGRAM_INDEXES.items():
            cursor.execute(
                # Django's icontains on PostgreSQL is UPPER(column::text) LIKE UPPER(pattern): the index's expression.
                f"CREATE INDEX IF NOT EXISTS {name} ON projects_media USING gin ((UPPER({column}::text)) gin_trgm_ops) "
                "WHERE deleted_at IS NULL"
            )


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0005_media_probe'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='media',
            index=models.Index(condition=models.Q(('deleted_at__isnull', False)), fields=['organization'], name='media_deleted'),
        ),
        migrations.AddIndex(
            model_name='media',
            index=models.Index(fields=['name'], name='media_name'),
        ),
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop),
    ]
