"""project_dump and project_restore: a project comes back whole, from its archive alone."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from PIL import Image

from backups.services import project_dump, project_restore
from labeling.models import Label, LabelSource, PredictionOutcome, Task, TaskState
from labeling.services import task_annotation_replace
from labelsite.errors import AlreadyExists, ValidationFailed
from projects.models import Dataset, LabelEntry, Media, MediaSource, Organization, Project
from tests.exports.conftest import (  # the export tests' project, and their fixtures that make it
    FULL_LABELS,
    export_bytes,
    export_dataset,  # noqa: F401
    export_project,  # noqa: F401
    label,
    make_task,  # noqa: F401
)
from tests.factories import MediaFactory, UserFactory

pytestmark = pytest.mark.django_db

ALL_STATES = tuple(TaskState.values)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def rich_project(export_project, export_dataset, make_task, media_storage):  # noqa: F811
    """Uploaded, URL and S3 media; imported, hand-drawn and predicted labels; every kind of state."""
    annotator = UserFactory(username="ann")
    export_project.members.add(annotator)
    uploaded = MediaFactory(dataset=export_dataset, source=MediaSource.LOCAL, url="", width=8, height=6)
    uploaded.file.save("street.png", ContentFile(_png()))
    first = Task.objects.create(project=export_project, media=uploaded, assignee=annotator)
    label(export_project, first, state=TaskState.REVIEWED)
    Task.objects.filter(pk=first.pk).update(review_comment="fine <b>work</b>")

    second = make_task(state=TaskState.IN_PROGRESS)  # URL media
    document = {
        "answers": {"weather": {"value": "rainy", "answers": {"daytime": {"value": "night"}}}},
        "labels": [
            {
                "key": "car",
                "type": "polygon",
                "points": [[1.5, 2], [30, 4.25], [12, 40]],
                "answers": {"car_type": {"value": "suv"}},
                "children": [{"key": "wheel", "type": "point", "points": [[5, 6]]}],
            },
            {"key": "road", "type": "segmentation", "points": [[[0, 0], [20, 0], [20, 20]], [[2, 2], [4, 2], [4, 4]]]},
        ],
    }
    task_annotation_replace(task=second, document=document, user=annotator)
    # Who did what (issue 18): completed and reviewed, with the active time the page counted.
    Task.objects.filter(pk=second.pk).update(
        completed_by=annotator,
        completed_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        reviewed_by=annotator,
        reviewed_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        review_verdict="accepted",
        active_seconds=42,
    )
    Label.objects.filter(task=second, parent__isnull=True).update(updated_by=annotator)
    bus = LabelEntry.objects.get(configuration__project=export_project, key="bus")
    Label.objects.create(
        task=second,
        entry=bus,
        points=[[3, 3], [9, 9]],
        rotation=-12.5,
        source=LabelSource.PREDICTION,
        score=0.73,
        model_version="m-7",
    )
    # What became of two earlier predictions: one accepted (its label lives on), one deleted.
    accepted = Label.objects.filter(task=second, parent__isnull=True).order_by("id").first()
    assert accepted is not None
    PredictionOutcome.objects.create(
        project=export_project,
        label_id=accepted.pk,
        model_version="m-6",
        score=0.91,
        outcome="accepted",
        user=annotator,
    )
    PredictionOutcome.objects.create(
        project=export_project, label_id=accepted.pk + 1000, model_version="m-6", score=0.2, outcome="deleted"
    )
    make_task(state=TaskState.BACKLOG, source=MediaSource.S3, url="s3://bucket/scenes/3.jpg", global_key="g-3")
    return export_project


def _dump(project: Project, path: Path) -> None:
    with path.open("wb") as out:
        project_dump(project=project, out=out)


def _restore(path: Path, **options: Any):
    with path.open("rb") as archive:
        return project_restore(archive_file=archive, **options)


def _export(project: Project) -> bytes:
    return export_bytes(project, "datagym", states=ALL_STATES, include_predictions=True)


def _tasks(project: Project) -> list[tuple[Any, ...]]:
    rows = Task.objects.filter(project=project).select_related("media", "assignee", "completed_by", "reviewed_by")
    return sorted(
        (t.media.name, t.state, t.version, t.has_import, json.dumps(t.answers, sort_keys=True), t.review_comment,
         t.assignee.username if t.assignee else None, t.created_at, t.updated_at,
         t.completed_by.username if t.completed_by else None, t.completed_at,
         t.reviewed_by.username if t.reviewed_by else None, t.reviewed_at, t.review_verdict, t.active_seconds)
        for t in rows
    )  # fmt: skip


def _labels(project: Project) -> list[tuple[Any, ...]]:
    """Labels with everything but ids: media, class, parent's class, geometry, answers, source, author."""
    rows = Label.objects.filter(task__project=project).select_related(
        "entry", "parent__entry", "task__media", "author", "updated_by"
    )
    return sorted(
        (r.task.media.name, r.entry.key, r.entry.schema_id, r.parent.entry.key if r.parent else None,
         json.dumps(r.points), r.rotation, json.dumps(r.answers, sort_keys=True), r.source, r.score,
         r.model_version, r.valid, r.author.username if r.author else None,
         r.updated_by.username if r.updated_by else None, r.created_at, r.updated_at)
        for r in rows
    )  # fmt: skip


def _media(project: Project) -> list[tuple[Any, ...]]:
    rows = Media.objects.filter(dataset__projects=project)
    return sorted(
        (m.name, m.source, m.url, m.global_key, m.width, m.height, m.file.read() if m.file else b"") for m in rows
    )


def _outcomes(project: Project) -> list[tuple[Any, ...]]:
    """Prediction outcomes with the label they name as the label's media and class (None when gone)."""
    labels = {
        pk: (name, key)
        for pk, name, key in Label.objects.filter(task__project=project).values_list(
            "pk", "task__media__name", "entry__key"
        )
    }
    return sorted(
        (
            (labels.get(o.label_id), o.model_version, o.score, o.outcome, o.user and o.user.username, o.created_at)
            for o in PredictionOutcome.objects.filter(project=project).select_related("user")
        ),
        key=lambda row: row[3],
    )


def test_restore_into_an_emptied_database_gives_back_the_same_project(rich_project, tmp_path):
    path = tmp_path / "dump.zip"
    _dump(rich_project, path)
    export, tasks, labels, media, outcomes = (
        _export(rich_project),
        _tasks(rich_project),
        _labels(rich_project),
        _media(rich_project),
        _outcomes(rich_project),
    )
    outcome_labels = sorted(PredictionOutcome.objects.filter(project=rich_project).values_list("label_id", flat=True))
    label_rows = sorted(Label.objects.filter(task__project=rich_project).values_list("id", "parent_id", "entry_id"))
    project_id, organization = rich_project.pk, rich_project.organization
    stored_file = Media.objects.get(source=MediaSource.LOCAL).file
    stored_file.storage.delete(stored_file.name)
    organization.delete()  # the project, its datasets, media, tasks and labels, all gone
    assert not Label.objects.exists()

    result = _restore(path)

    restored = Project.objects.get(pk=project_id)
    assert result.project == restored
    assert restored.organization.name == organization.name
    assert _export(restored) == export
    assert _tasks(restored) == tasks
    assert _labels(restored) == labels
    assert _media(restored) == media  # the uploaded image's bytes came from the archive
    assert _outcomes(restored) == outcomes
    assert outcomes[0][0] is not None  # the accepted prediction names its label (sorted by outcome)
    assert sorted(PredictionOutcome.objects.filter(project=restored).values_list("label_id", flat=True)) == (
        outcome_labels
    )
    assert sorted(Label.objects.filter(task__project=restored).values_list("id", "parent_id", "entry_id")) == label_rows
    assert list(restored.members.values_list("username", flat=True)) == ["ann"]
    assert result.users_missing == set()
    # New labels get ids above the restored ones (the sequence was moved past them).
    task = Task.objects.filter(project=restored).first()
    entry = LabelEntry.objects.filter(configuration__project=restored, type="point").first()
    assert Label.objects.create(task=task, entry=entry, points=[[1, 1]]).pk > max(row[0] for row in label_rows)


def test_restore_with_new_ids_copies_the_project_into_another_organisation(rich_project, tmp_path):
    path = tmp_path / "dump.zip"
    _dump(rich_project, path)
    labels_before = Label.objects.count()

    result = _restore(path, organization_name="Copies", new_ids=True)

    copy = result.project
    assert copy.pk != rich_project.pk
    assert copy.organization == Organization.objects.get(name="Copies")
    assert Label.objects.filter(task__project=rich_project).count() * 2 == Label.objects.count() == labels_before * 2
    assert _tasks(copy) == _tasks(rich_project)
    assert _labels(copy) == _labels(rich_project)
    assert _media(copy) == _media(rich_project)
    # The accepted prediction's outcome names the copy's label; the deleted one's an id no label has.
    assert _outcomes(copy) == _outcomes(rich_project)
    gone = PredictionOutcome.objects.get(project=copy, outcome="deleted").label_id
    assert not Label.objects.filter(pk=gone).exists()
    assert gone not in PredictionOutcome.objects.filter(project=rich_project).values_list("label_id", flat=True)
    # The same DataGym export, once the media and task ids of the copy (in bitmap links) are
    # read as the original's.
    export = _export(copy).decode()
    new_ids = dict(Task.objects.filter(project=copy).values_list("media__name", "media_id"))
    new_ids |= {f"task {name}": pk for name, pk in Task.objects.filter(project=copy).values_list("media__name", "id")}
    for name, old_media, old_task in Task.objects.filter(project=rich_project).values_list(
        "media__name", "media_id", "id"
    ):
        export = export.replace(str(new_ids[name]), str(old_media))
        export = export.replace(str(new_ids[f"task {name}"]), str(old_task))
    # Tasks come in id order, and the copy's task ids are new: the same items, in another order.
    copied, original = json.loads(export), json.loads(_export(rich_project))
    assert copied[0] == original[0]  # the header: the label classes
    assert sorted(copied[1:], key=json.dumps) == sorted(original[1:], key=json.dumps)
    assert len(original) == 4
    copied_ids = set(Media.objects.filter(dataset__projects=copy).values_list("id", flat=True))
    assert not copied_ids & set(Media.objects.filter(dataset__projects=rich_project).values_list("id", flat=True))
    copied_labels = Label.objects.filter(task__project=copy)
    assert not copied_labels.filter(pk__in=Label.objects.filter(task__project=rich_project).values("pk")).exists()
    assert not copied_labels.filter(parent__task__project=rich_project).exists()


def test_restoring_over_the_original_is_refused_and_writes_nothing(rich_project, tmp_path):
    path = tmp_path / "dump.zip"
    _dump(rich_project, path)
    counts = (Project.objects.count(), Dataset.objects.count(), Media.objects.count(), Label.objects.count())

    with pytest.raises(AlreadyExists, match="--new-ids"):
        _restore(path, organization_name="Elsewhere")

    assert (Project.objects.count(), Dataset.objects.count(), Media.objects.count(), Label.objects.count()) == counts
    assert not Organization.objects.filter(name="Elsewhere").exists()


def test_a_damaged_line_is_named_and_nothing_is_written(rich_project, tmp_path):
    path, damaged = tmp_path / "dump.zip", tmp_path / "damaged.zip"
    _dump(rich_project, path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "tasks.jsonl":
                lines = data.splitlines(keepends=True)
                data = b"".join([lines[0], b'{"id": "truncated\n', *lines[1:]])
            target.writestr(info, data)
    projects = Project.objects.count()

    with pytest.raises(ValidationFailed) as raised:
        _restore(damaged, organization_name="Copies", new_ids=True)

    assert raised.value.details[0].path == "tasks.jsonl:2"
    assert "line 2" in raised.value.message
    assert Project.objects.count() == projects
    assert not Organization.objects.filter(name="Copies").exists()


def _with_first_label(path: Path, damaged: Path, change: Any) -> None:
    """A copy of the dump with `change` applied to the first label of the first task that has one."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "tasks.jsonl":
                rows = [json.loads(line) for line in data.splitlines()]
                change(next(row for row in rows if row["labels"])["labels"])
                data = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
            target.writestr(info, data)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda labels: labels[0].update(entry_id="00000000-0000-4000-8000-000000000000"), "names the class"),
        (lambda labels: labels[0].update(parent_id=labels[-1]["id"] + 1000), "names the parent"),
    ],
    ids=["unknown class", "parent not in the task"],
)
def test_a_label_naming_a_class_or_parent_the_dump_lacks_is_refused(rich_project, tmp_path, change, said):
    # The label table has no database constraint on either (see Label.entry): the restore checks.
    path, damaged = tmp_path / "dump.zip", tmp_path / "damaged.zip"
    _dump(rich_project, path)
    _with_first_label(path, damaged, change)
    labels = Label.objects.count()

    with pytest.raises(ValidationFailed) as raised:
        _restore(damaged, organization_name="Copies", new_ids=True)

    assert said in raised.value.message
    assert Label.objects.count() == labels
    assert not Organization.objects.filter(name="Copies").exists()


def test_a_file_that_is_not_a_dump_is_refused(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text("[]")
    with pytest.raises(ValidationFailed, match="not a project dump"):
        _restore(path)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(ValidationFailed, match="labelsite-project-dump"):
        _restore(other)


def test_the_commands_dump_and_restore_and_name_users_that_are_missing(rich_project, tmp_path):
    path = tmp_path / "street.zip"
    out = io.StringIO()
    call_command("project_dump", str(rich_project.pk), str(path), stdout=out)
    assert "3 tasks" in out.getvalue()
    assert not (tmp_path / "street.zip.partial").exists()
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    labels = Label.objects.filter(task__project=rich_project).count()
    assert manifest["counts"] == {
        "datasets": 1,
        "media": 3,
        "files": 1,
        "tasks": 3,
        "labels": labels,
        "prediction_outcomes": 2,
    }
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="ann").delete()
    out = io.StringIO()
    call_command("project_restore", str(path), "--organization", "Restored", "--new-ids", stdout=out)
    assert f"3 tasks, {labels} labels, 2 prediction outcomes" in out.getvalue()
    assert "1 user(s) of the dump do not exist here (ann)" in out.getvalue()
    copy = Project.objects.get(organization__name="Restored")
    assert not Task.objects.filter(project=copy, assignee__isnull=False).exists()
    assert not Label.objects.filter(task__project=copy, author__isnull=False).exists()


def test_the_commands_name_what_is_wrong(tmp_path):
    with pytest.raises(CommandError, match="not a project id"):
        call_command("project_dump", "42", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="No project with the id"):
        call_command("project_dump", "6c1d3f8e-5a57-4c1e-9e55-0d7e4b9b1a11", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("project_restore", str(tmp_path / "missing.zip"))


def test_the_dump_reads_in_chunks_not_per_task(rich_project, make_task, tmp_path):  # noqa: F811
    """Queries grow with the chunks, not with the tasks: 30 more tasks, no more queries."""

    def queries_for_dump() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured, (tmp_path / "d.zip").open("wb") as out:
            project_dump(project=rich_project, out=out)
        return len(captured.captured_queries)

    before = queries_for_dump()
    for _ in range(30):
        label(rich_project, make_task(), labels=FULL_LABELS)
    assert queries_for_dump() == before


def test_a_dump_written_before_outcomes_were_dumped_still_restores(rich_project, tmp_path):
    path, older = tmp_path / "dump.zip", tmp_path / "older.zip"
    _dump(rich_project, path)
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(older, "w") as copy:
        for member in archive.namelist():
            if member != "prediction_outcomes.jsonl":
                copy.writestr(member, archive.read(member))

    result = _restore(older, organization_name="Older", new_ids=True)

    assert result.counts.prediction_outcomes == 0
    assert _labels(result.project) == _labels(rich_project)
    assert not PredictionOutcome.objects.filter(project=result.project).exists()
