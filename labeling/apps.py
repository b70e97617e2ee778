from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        # Tasks follow media: projects announces new media and connections, labeling
        # creates the tasks (projects may not import labeling; see docs/architecture.md).
        from labeling import receivers  # noqa: F401

        connection_created.connect(_json_as_text, dispatch_uid="labeling.json_as_text")


def _json_as_text(sender: Any, connection: Any, **kwargs: Any) -> None:
    """psycopg hands `json` values (the label rows' `points` and `answers`, `JSONTextField`) over
    as their text, as Django has it do for `jsonb`: the field decodes them, raw readers get text."""
    if connection.vendor != "postgresql":
        return
    from psycopg.types.string import TextBinaryLoader, TextLoader

    adapters = connection.connection.adapters
    adapters.register_loader("json", TextLoader)
    adapters.register_loader("json", TextBinaryLoader)
