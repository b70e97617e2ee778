from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class LabelsiteConfig(AppConfig):
    name = "labelsite"
    verbose_name = "Labelsite"

    def ready(self) -> None:
        from labelsite import checks  # noqa: F401  (registers the start-up checks)

        # The embedded defaults (SQLite file, file broker, local uploads) live in var/;
        # create their folders before first use rather than at settings import.
        folders: list[object] = [settings.VAR_DIR, settings.STATIC_ROOT]
        if settings.CELERY_BROKER_URL == "filesystem://":
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            folders += [options["data_folder_in"], options["control_folder"], options["processed_folder"]]
        for folder in folders:
            Path(str(folder)).mkdir(parents=True, exist_ok=True)
