from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        # Celery's autodiscovery imports `imports.tasks` only; the export task lives beside it.
        from imports import export_tasks  # noqa: F401
