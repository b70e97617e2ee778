from django.apps import AppConfig


class LabelsiteConfig(AppConfig):
    name = "labelsite"
    verbose_name = "Labelsite"

    def ready(self) -> None:
        from labelsite import checks  # noqa: F401  (registers the start-up checks)
