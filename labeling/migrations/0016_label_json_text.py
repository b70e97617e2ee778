"""Label points and answers as PostgreSQL `json` (`labeling.models.JSONTextField`).

Only PostgreSQL's column type changes: one `ALTER TABLE` rewrites the label table (jsonb to its
text). SQLite stores JSON as text either way, so its table is left as it is (an AlterField would
have rebuilt it).
"""

from django.db import migrations

import labeling.models

_TO_JSON = (
    "ALTER TABLE labeling_label ALTER COLUMN points TYPE json USING points::json, "
    "ALTER COLUMN answers TYPE json USING answers::json"
)
_TO_JSONB = (
    "ALTER TABLE labeling_label ALTER COLUMN points TYPE jsonb USING points::jsonb, "
    "ALTER COLUMN answers TYPE jsonb USING answers::jsonb"
)


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0015_label_task_no_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="label",
                    name="answers",
                    field=labeling.models.JSONTextField(blank=True, default=dict),
                ),
                migrations.AlterField(
                    model_name="label",
                    name="points",
                    field=labeling.models.JSONTextField(default=list),
                ),
            ],
            database_operations=[
                migrations.RunPython(_on_postgresql(_TO_JSON), _on_postgresql(_TO_JSONB)),
            ],
        ),
    ]
