"""Fixtures shared by every test module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labelsite.celery import app
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory


@pytest.fixture
def organization():
    return OrganizationFactory()


@pytest.fixture
def admin_user(organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    return user


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.fixture
def media_storage(tmp_path, settings):
    """Uploaded files go to a temporary folder for the test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings):
    """Tests run with DEBUG off but without collectstatic, so there is no manifest to look names up in."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def cache_of_its_own(settings: Any) -> None:
    """Each test starts with an empty memory cache, never a shared Redis: counts of failed token
    attempts (projects/throttling.py), which all come from 127.0.0.1, never carry over to the next test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"test-{uuid.uuid4()}"}
    }


@pytest.fixture(autouse=True)
def no_url_media_fetches(settings: Any) -> None:
    """Tests never reach the internet: the worker's probe fetches no URL media (tests of the
    probe turn it on, with images served on loopback)."""
    settings.LABELSITE_MEDIA_PROBE_URLS = False


@pytest.fixture
def eager_worker(settings: Any) -> Iterator[None]:
    """Celery tasks run in-process, at once (after the commit that enqueues them)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False
