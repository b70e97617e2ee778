from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """`project_dump` and `project_restore`: one project in a ZIP archive and back."""

    name = "backups"
    verbose_name = "Backups"
