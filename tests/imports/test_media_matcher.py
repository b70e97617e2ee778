"""`MediaMatcher` finds the task of each media an item names, by id, name, external id or global
key: the project's live media only, several media with one value "ambiguous", unknown values None,
and the sizes of the media it found. PostgreSQL looks them up by one binary-array statement per
250 values (`labeling.selectors.task_media_matches`), SQLite through the ORM: the same answers."""

from __future__ import annotations

import pytest
from django.utils import timezone

from imports.pipeline import MediaMatcher
from projects.models import Media
from tests.factories import ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    project = ProjectFactory()
    made = {
        name: TaskFactory(project=project, media__name=name, media__external_id=f"ext-{name}",
                          media__global_key=f"key-{name}", media__width=width, media__height=height)
        for name, width, height in [("a.jpg", 640, 480), ("b.jpg", None, None), ("c.jpg", 10, 20)]
    }  # fmt: skip
    made["twin"] = TaskFactory(project=project, media__name="a.jpg", media__external_id="ext-twin")
    made["gone"] = TaskFactory(project=project, media__name="gone.jpg", media__external_id="ext-gone")
    Media.objects.filter(pk=made["gone"].media_id).update(deleted_at=timezone.now())
    made["elsewhere"] = TaskFactory(media__name="elsewhere.jpg", media__external_id="ext-c.jpg")
    return project, made


def test_by_id_finds_live_media_of_the_project_only(tasks):
    project, made = tasks
    matcher = MediaMatcher(project_id=project.pk, match_by="id")
    ids = {key: str(task.media_id) for key, task in made.items()}
    found = matcher.resolve(ids.values())
    assert found == {
        ids["a.jpg"]: made["a.jpg"].pk,
        ids["b.jpg"]: made["b.jpg"].pk,
        ids["c.jpg"]: made["c.jpg"].pk,
        ids["twin"]: made["twin"].pk,
        ids["gone"]: None,
        ids["elsewhere"]: None,
    }
    assert matcher.sizes[made["a.jpg"].pk] == (640, 480)
    assert matcher.sizes[made["c.jpg"].pk] == (10, 20)
    assert made["b.jpg"].pk not in matcher.sizes


def test_by_name_two_media_of_one_name_are_ambiguous(tasks):
    project, made = tasks
    found = MediaMatcher(project_id=project.pk, match_by="name").resolve(["a.jpg", "c.jpg", "gone.jpg", "x.jpg"])
    assert found == {"a.jpg": "ambiguous", "c.jpg": made["c.jpg"].pk, "gone.jpg": None, "x.jpg": None}


def test_by_external_id_and_global_key(tasks):
    project, made = tasks
    by_external = MediaMatcher(project_id=project.pk, match_by="external_id").resolve(["ext-c.jpg", "ext-twin"])
    by_key = MediaMatcher(project_id=project.pk, match_by="global_key").resolve(["key-b.jpg", "KEY-b.jpg"])
    assert by_external == {"ext-c.jpg": made["c.jpg"].pk, "ext-twin": made["twin"].pk}
    assert by_key == {"key-b.jpg": made["b.jpg"].pk, "KEY-b.jpg": None}


def test_more_values_than_one_statement_takes(tasks):
    project, made = tasks
    values = [f"none-{n}" for n in range(600)] + ["c.jpg"]
    found = MediaMatcher(project_id=project.pk, match_by="name").resolve(values)
    assert found["c.jpg"] == made["c.jpg"].pk
    assert sum(value is None for value in found.values()) == 600
