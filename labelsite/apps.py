from django.apps import AppConfig
from django.conf import settings


class LabelsiteConfig(AppConfig):
    name = "labelsite"
    verbose_name = "Labelsite"

    def ready(self) -> None:
        from labelsite import checks  # noqa: F401  (registers the start-up checks)

        # The embedded defaults (SQLite file, file broker, local uploads) live in var/;
        # create it before the first connection rather than at settings import.
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
