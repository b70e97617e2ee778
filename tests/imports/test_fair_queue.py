"""Imports take turns across organisations: at most N jobs of one organisation at the broker.

Security review 15, item 5: a ZIP of 2,000 label files became 2,000 messages at the head of the
one queue every organisation shares. Now a job waits in the database (queued, unpublished)
until its organisation has fewer than `LABELSITE_IMPORT_JOBS_PER_ORGANIZATION` jobs at the
broker or running; when a job ends, the next waiting one of its organisation is published.

The messages go to kombu's in-memory broker, which the test reads back in the order a worker
would take them. The same with real workers: `tests/realstack/test_queue_fairness.py`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from imports import queue
from imports.models import ImportJob, ImportStatus
from imports.services import (
    import_job_cancel,
    import_job_create,
    import_job_validate,
    import_jobs_admit,
    import_jobs_resume,
)
from labelsite.celery import app
from projects.models import Project
from tests.celery_broker import publishing_to
from tests.factories import OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db

BROKER = "memory://"


@pytest.fixture
def broker() -> Iterator[None]:
    """An in-memory broker of this test's own, emptied before and after."""
    with publishing_to(BROKER):
        published()
        yield
        published()


def published() -> list[tuple[str, tuple[Any, ...]]]:
    """The messages waiting at the broker, in the order a worker takes them (taking them)."""
    taken = []
    with Connection(BROKER) as connection:
        waiting = connection.SimpleQueue(app.conf.task_default_queue, no_ack=True)
        while True:
            try:
                message = waiting.get(block=False)
            except waiting.Empty:
                break
            taken.append((message.headers["task"], tuple(message.payload[0])))
        waiting.close()
    return taken


def validations(messages: list[tuple[str, tuple[Any, ...]]]) -> list[str]:
    return [args[0] for name, args in messages if name == queue.JOB_VALIDATE]


def upload(project: Project, name: str, content: bytes = b"[]") -> ImportJob:
    return import_job_create(project=project, user=None, file=content, file_name=name, format="datagym")


@pytest.fixture
def two_per_organization(settings: Any) -> None:
    settings.LABELSITE_IMPORT_JOBS_PER_ORGANIZATION = 2


def test_an_organisation_has_two_imports_at_the_broker_and_the_rest_wait_unpublished(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [upload(project, f"{n}.json") for n in range(5)]

    assert validations(published()) == [str(jobs[0].pk), str(jobs[1].pk)]
    for job in jobs:
        job.refresh_from_db()
    assert [job.status for job in jobs] == [ImportStatus.QUEUED] * 5
    assert [job.published_at is not None for job in jobs] == [True, True, False, False, False]


def test_another_organisation_s_upload_is_published_at_once_behind_two_of_the_first_s(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    other = ProjectFactory(organization=OrganizationFactory())
    with django_capture_on_commit_callbacks(execute=True):
        many = [upload(project, f"{n}.json") for n in range(20)]
        one = upload(other, "mine.json")

    assert validations(published()) == [str(many[0].pk), str(many[1].pk), str(one.pk)]


def test_a_job_that_ends_hands_its_turn_to_the_next_waiting_job_of_its_organisation(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [upload(project, f"{n}.json") for n in range(4)]
    published()

    with django_capture_on_commit_callbacks(execute=True):
        ended = import_job_validate(job_id=jobs[0].pk)  # an empty array: the job fails at once

    assert ended.status == ImportStatus.FAILED
    assert validations(published()) == [str(jobs[2].pk)]


def test_waiting_jobs_are_published_round_robin_the_organisation_that_waited_longest_first(
    media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    a, b, c = (ProjectFactory(organization=OrganizationFactory()) for _ in range(3))
    # Uploaded while nothing gave turns (a web process that died before its commit hook ran).
    with django_capture_on_commit_callbacks(execute=False):
        a_jobs = [upload(a, f"a{n}.json") for n in range(3)]
        b_jobs = [upload(b, f"b{n}.json") for n in range(3)]
        c_jobs = [upload(c, "c0.json")]

    admitted = import_jobs_admit()

    expected = [a_jobs[0], b_jobs[0], c_jobs[0], a_jobs[1], b_jobs[1]]
    assert admitted == [job.pk for job in expected]
    assert validations(published()) == [str(job.pk) for job in expected]
    assert import_jobs_admit() == []  # every organisation has its two


def test_the_start_up_sweep_gives_turns_and_sends_again_a_turn_whose_message_was_lost(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        jobs = [upload(project, f"{n}.json") for n in range(3)]
    import_jobs_admit()
    published()  # a worker took both messages and died before it claimed either
    ImportJob.objects.filter(pk__in=[jobs[0].pk, jobs[1].pk]).update(published_at="2000-01-01T00:00:00Z")

    with django_capture_on_commit_callbacks(execute=True):
        import_jobs_resume()

    assert sorted(validations(published())) == sorted([str(jobs[0].pk), str(jobs[1].pk)])
    jobs[2].refresh_from_db()
    assert jobs[2].published_at is None  # still two at the broker


def test_a_cancelled_waiting_job_is_never_published_and_its_turn_goes_to_the_next(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        jobs = [upload(project, f"{n}.json") for n in range(4)]
        import_job_cancel(job=jobs[2])
    published()

    with django_capture_on_commit_callbacks(execute=True):
        import_job_validate(job_id=jobs[0].pk)
        import_job_validate(job_id=jobs[1].pk)

    assert validations(published()) == [str(jobs[3].pk)]
    jobs[2].refresh_from_db()
    assert (jobs[2].status, jobs[2].published_at, jobs[2].started_at) == (ImportStatus.CANCELLED, None, None)


def test_the_message_of_a_job_cancelled_at_the_broker_returns_without_running_it(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = upload(project, "0.json")
        import_job_cancel(job=job)

    job = import_job_validate(job_id=job.pk)  # its message, taken by a worker

    assert (job.status, job.started_at, job.attempts) == (ImportStatus.CANCELLED, None, 0)


def zipped(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(count):
            archive.writestr(f"labels/{number:02d}.json", json.dumps([]))
    return buffer.getvalue()


def test_cancelling_a_zip_upload_cancels_its_imports_that_have_not_started(
    project, media_storage, broker, two_per_organization, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(project, "many.zip", zipped(6))
    with django_capture_on_commit_callbacks(execute=True):
        import_job_validate(job_id=first.pk)  # unpacks: five more jobs, one of them given a turn
    siblings = ImportJob.objects.exclude(pk=first.pk)
    assert siblings.count() == 5
    published()

    with django_capture_on_commit_callbacks(execute=True):
        import_job_cancel(job=first)  # the upload's id, as the API answered it

    assert set(siblings.values_list("status", "started_at")) == {(ImportStatus.CANCELLED, None)}
    assert validations(published()) == []
