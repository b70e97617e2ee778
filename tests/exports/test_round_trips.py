"""Importing our export gives back the same labels, for each format that we both read and write."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest

from formats.codecs.brush_rle import rle_decode_mask
from formats.codecs.mask_polygons import mask_segmentation
from imports.services import import_items_inline
from labeling.models import Label, Task, TaskState
from projects.label_config import label_config_replace
from tests.exports.conftest import EXPORT_CONFIG, FULL_LABELS, export_bytes, label
from tests.factories import ProjectFactory
from tests.imports.conftest import DATAGYM_CONFIG

pytestmark = pytest.mark.django_db


@pytest.fixture
def source_project(organization, export_dataset):
    """A project with DataGym's configuration on the shared dataset (segmentations do not import)."""
    project = ProjectFactory(organization=organization)
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_CONFIG)
    export_dataset.projects.add(project)
    return project


@pytest.fixture
def fresh_project(organization, export_dataset):
    project = ProjectFactory(organization=organization)
    label_config_replace(configuration=project.label_configuration, entries=DATAGYM_CONFIG)
    export_dataset.projects.add(project)
    return project


def _tasks_for(project, media) -> list[Task]:
    return [Task.objects.create(project=project, media=m, state=TaskState.BACKLOG) for m in media]


def _complete(project) -> None:
    Task.objects.filter(project=project).update(state=TaskState.COMPLETED)


def _labels(project) -> list[tuple[Any, ...]]:
    """The project's labels as (media, class, points, answers, parent class), ids left out."""
    rows = Label.objects.filter(task__project=project).select_related("entry", "parent__entry", "task")
    return sorted(
        (
            str(row.task.media_id),
            row.entry.key,
            json.dumps(_numbers(row.points)),
            json.dumps(row.answers, sort_keys=True),
            row.parent.entry.key if row.parent else None,
        )
        for row in rows
    )


def _numbers(points: Any) -> Any:
    """Coordinates as floats to the thousandth (54 and 54.0 are one pixel)."""
    if isinstance(points, list):
        return [_numbers(p) for p in points]
    return round(float(points), 3)


def _media(row: dict[str, Any]) -> str:
    return str(row["internal_media_ID"])


def _given(tree: dict[str, Any]) -> dict[str, Any]:
    """An answer tree without the questions left unanswered (an import may or may not store them)."""
    kept = {}
    for key, node in tree.items():
        children = _given(node.get("answers") or {})
        if node.get("value") not in (None, []) or children:
            kept[key] = {"value": node.get("value"), "answers": children}
    return kept


def _answers(project) -> dict[str, Any]:
    return {str(task.media_id): _given(task.answers) for task in Task.objects.filter(project=project)}


@pytest.fixture
def labelled_source(source_project, export_dataset, make_task):
    from tests.factories import MediaFactory

    media = [MediaFactory(dataset=export_dataset, width=800, height=600) for _ in range(3)]
    tasks = _tasks_for(source_project, media)
    label(source_project, tasks[0])
    label(
        source_project,
        tasks[1],
        {
            "global_classifications": {"weather": ["rainy", {"daytime": ["night"]}]},
            "labels": {
                "bus": [
                    {"rectangle": [{"x": 1, "y": 2, "w": 3, "h": 4}]},
                    {"rectangle": [{"x": 5, "y": 6, "w": 7, "h": 8}]},
                ]
            },
        },
    )
    label(source_project, tasks[2], {"global_classifications": {}, "labels": {}})
    return media


def test_datagym_export_imported_into_a_fresh_project_exports_identically(
    source_project, fresh_project, labelled_source
):
    first = export_bytes(source_project, "datagym")
    _tasks_for(fresh_project, labelled_source)
    import_items_inline(project=fresh_project, items=json.loads(first))
    _complete(fresh_project)
    second = export_bytes(fresh_project, "datagym")
    # Tasks come in database order (by task id), which differs between the projects.
    header, *rows = json.loads(first)
    header_again, *rows_again = json.loads(second)
    assert header_again == header
    assert sorted(rows_again, key=_media) == sorted(rows, key=_media)
    assert len(rows) == 3
    assert _labels(fresh_project) == _labels(source_project)


def test_datagym_export_imported_again_gives_back_the_same_labels_and_answers(
    source_project, fresh_project, labelled_source
):
    _tasks_for(fresh_project, labelled_source)
    items = json.loads(export_bytes(source_project, "datagym"))
    import_items_inline(project=fresh_project, items=[{**row, "keepData": False} for row in items])
    assert _labels(fresh_project) == _labels(source_project)
    assert _answers(fresh_project) == _answers(source_project)


def test_label_studio_export_imported_into_a_fresh_project_gives_back_the_same_labels(
    source_project, fresh_project, labelled_source
):
    """Nested answers included: a class's question (`car_type`), a nested geometry (`wheel`, by
    `parentID`) and a global question's child (`weather` / `daytime`, by its key path)."""
    _tasks_for(fresh_project, labelled_source)
    items = json.loads(export_bytes(source_project, "label_studio"))
    import_items_inline(project=fresh_project, items=items, format="label_studio", options={"match_by": "name"})

    assert _labels(fresh_project) == _labels(source_project)
    assert _answers(fresh_project) == _answers(source_project)
    nested = [row for row in _labels(fresh_project) if row[4] is not None]
    assert [(row[1], row[4]) for row in nested] == [("wheel", "car")]
    assert {"weather": {"value": "rainy", "answers": {"daytime": {"value": "night", "answers": {}}}}} in (
        _answers(fresh_project).values()
    )


def test_label_studio_export_carries_predictions_back_as_predictions(source_project, fresh_project, labelled_source):
    from labeling.models import LabelSource
    from projects.models import LabelEntry

    task = Task.objects.get(project=source_project, media=labelled_source[0])
    bus = LabelEntry.objects.get(configuration__project=source_project, key="bus")
    Label.objects.create(
        task=task, entry=bus, points=[[8, 6], [88, 66]], source=LabelSource.PREDICTION, score=0.5, model_version="m1"
    )
    _tasks_for(fresh_project, labelled_source)
    items = json.loads(export_bytes(source_project, "label_studio", include_predictions=True))
    import_items_inline(project=fresh_project, items=items, format="label_studio", options={"match_by": "name"})
    predicted = Label.objects.get(task__project=fresh_project, source=LabelSource.PREDICTION)
    assert (predicted.points, predicted.score, predicted.model_version) == ([[8, 6], [88, 66]], 0.5, "m1")


def test_round_trip_source_labels_include_every_kind(source_project, labelled_source):
    kinds = {row[1] for row in _labels(source_project)}
    assert kinds == {"bus", "car", "wheel", "street", "poi"}
    assert set(FULL_LABELS["labels"]) == {"bus", "car", "street", "poi"}


# --- segmentations through Label Studio's brush RLE -------------------------------------


@pytest.fixture
def segmentation_projects(organization, export_dataset):
    """Two projects with the export configuration (DataGym's plus the segmentation class `road`)."""
    projects = []
    for _ in range(2):
        project = ProjectFactory(organization=organization)
        label_config_replace(configuration=project.label_configuration, entries=EXPORT_CONFIG)
        export_dataset.projects.add(project)
        projects.append(project)
    return projects


def _road(project, media, rings) -> None:
    from projects.models import LabelEntry

    task = Task.objects.get_or_create(project=project, media=media, defaults={"state": TaskState.COMPLETED})[0]
    road = LabelEntry.objects.get(configuration__project=project, key="road")
    Label.objects.create(task=task, entry=road, points=rings)


def _brushes(export: bytes) -> list[tuple[str, list[int]]]:
    return sorted(
        (task["data"]["name"], result["value"]["rle"])
        for task in json.loads(export)
        for result in task["annotations"][0]["result"]
        if result["type"] == "brushlabels"
    )


def test_a_segmentation_traced_from_pixels_comes_back_from_its_brush_unchanged(segmentation_projects, export_dataset):
    from tests.factories import MediaFactory

    source, fresh = segmentation_projects
    mask = np.zeros((60, 80), dtype=np.uint8)
    cv2.rectangle(mask, (5, 5), (60, 50), 1, -1)
    cv2.rectangle(mask, (15, 15), (45, 40), 0, -1)  # a hole
    cv2.circle(mask, (30, 27), 5, 1, -1)  # an island in it
    cv2.ellipse(mask, (70, 30), (6, 20), 15, 0, 360, 1, -1)
    media = MediaFactory(dataset=export_dataset, width=80, height=60)
    _road(source, media, mask_segmentation(mask.astype(bool)))
    _tasks_for(fresh, [media])

    items = json.loads(export_bytes(source, "label_studio"))
    import_items_inline(project=fresh, items=items, format="label_studio", options={"match_by": "name"})

    assert [r["type"] for r in items[0]["annotations"][0]["result"]] == ["brushlabels"]
    assert _labels(fresh) == _labels(source)


def test_a_drawn_segmentation_comes_back_as_the_same_pixels(segmentation_projects, export_dataset):
    """Polygons drawn between pixel centres come back as the outline of the pixels they paint:
    the same mask, so exporting the import again writes the same brush."""
    from tests.factories import MediaFactory

    source, fresh = segmentation_projects
    media = MediaFactory(dataset=export_dataset, width=120, height=90)
    _road(source, media, [[[10.4, 8.2], [90.7, 12.5], [70.1, 80.9], [15.5, 60.3]], [[40, 30], [60, 30], [50, 50]]])
    _tasks_for(fresh, [media])

    first = export_bytes(source, "label_studio")
    import_items_inline(project=fresh, items=json.loads(first), format="label_studio", options={"match_by": "name"})
    Task.objects.filter(project=fresh).update(state=TaskState.COMPLETED)
    second = export_bytes(fresh, "label_studio")

    (brush,) = _brushes(first)
    assert _brushes(second) == [brush]
    painted = rle_decode_mask(brush[1], 120, 90)
    assert (painted[40, 30], painted[35, 50]) == (True, False)  # (row, column) in the shell, in the hole
