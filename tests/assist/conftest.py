"""The native API's world, with the task's image stored (a scene with known objects)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile

from assist.images import image_cache_clear
from projects.models import MediaSource
from tests.api.conftest import World, fast_password_hashing, world
from tests.assist.scenes import Scene, street_scene

__all__ = ["World", "assist_world", "fast_password_hashing", "scene", "world"]


@pytest.fixture
def scene() -> Scene:
    return street_scene()


@pytest.fixture(autouse=True)
def fresh_assist_state(settings: Any, tmp_path: Any) -> Any:
    """Each test starts with an empty image cache and slot files of its own."""
    settings.VAR_DIR = tmp_path / "var"
    image_cache_clear()
    yield
    image_cache_clear()


@pytest.fixture
def assist_world(world: World, media_storage: Any, scene: Scene) -> World:
    media = world.media
    media.source = MediaSource.LOCAL
    media.url = ""
    media.mime_type = "image/png"
    media.width, media.height = scene.width, scene.height
    media.file.save("street.png", ContentFile(scene.png()), save=False)
    media.save()
    return world
