from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        # Tasks follow media: projects announces new media and connections, labeling
        # creates the tasks (projects may not import labeling; see docs/architecture.md).
        from labeling import receivers  # noqa: F401
