"""ExportJob moves from the imports app to exports: its rows stay, its table is renamed.

The model's state is created here over the existing table `imports_exportjob` (no SQL), the
table is renamed to `exports_exportjob`, and the content type follows (admin history and
permissions keep pointing at it). `imports/0006` then drops the model from the imports
app's state, again without SQL.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import exports.models


def content_type_move(apps, schema_editor, *, source="imports", target="exports"):
    content_types = apps.get_model("contenttypes", "ContentType")
    alias = schema_editor.connection.alias
    if content_types.objects.using(alias).filter(app_label=target, model="exportjob").exists():
        return
    content_types.objects.using(alias).filter(app_label=source, model="exportjob").update(app_label=target)


def content_type_move_back(apps, schema_editor):
    content_type_move(apps, schema_editor, source="exports", target="imports")


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0005_importchunk_part_starts"),
        ("projects", "0002_label_configuration_image_field"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ExportJob",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("format", models.CharField(max_length=32)),
                        ("filters", models.JSONField(blank=True, default=dict)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("tasks_total", models.IntegerField(blank=True, null=True)),
                        ("tasks_done", models.IntegerField(default=0)),
                        (
                            "file",
                            models.FileField(blank=True, max_length=512, upload_to=exports.models.export_upload_to),
                        ),
                        ("file_name", models.CharField(blank=True, max_length=255)),
                        ("file_size", models.BigIntegerField(default=0)),
                        ("message", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="export_jobs",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="export_jobs",
                                to="projects.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "imports_exportjob",
                        "ordering": ["-created_at"],
                        "indexes": [models.Index(fields=["project", "-created_at"], name="exportjob_project_created")],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("status__in", ["queued", "running", "succeeded", "failed"])),
                                name="exportjob_status_valid",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="exportjob", table=None),
        migrations.RunPython(content_type_move, content_type_move_back),
    ]
