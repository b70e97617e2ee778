"""A rectangle's rotation in the label model: normalised once, kept by every writer of labels
(the page's document, the bulk writers: COPY and staged COPY on PostgreSQL, bulk_create
elsewhere), and the geometry the formats share. Backups: tests/backups (a rotated prediction)."""

from __future__ import annotations

import math
import uuid

import pytest

from demo.management.commands.seed_demo import DEMO_CONFIGURATION
from labeling.annotation import (
    MediaAnnotation,
    MediaRef,
    Shape,
    rectangle_corners,
    rectangle_from_corners,
    rectangle_hull,
    rotation_normalise,
)
from labeling.models import Label
from labeling.selectors import task_annotation_get
from labeling.services import labels_batch_stage, labels_write_batch, labels_write_staged, task_annotation_replace
from projects.config_converters import ls_config_to_entries
from projects.label_config import label_config_index, label_config_replace
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def task():
    task = TaskFactory()
    label_config_replace(configuration=task.project.label_configuration, entries=DEMO_CONFIGURATION)
    return task


def bus_shape(task, rotation: float) -> Shape:
    index = label_config_index(configuration=task.project.label_configuration)
    bus = index.root("bus")
    assert bus is not None
    return Shape(key="bus", type="rectangle", points=[[10, 20], [110, 70]], entry_id=bus.id, rotation=rotation)


@pytest.mark.parametrize(
    ("given", "stored"),
    [(0, 0), (30, 30), (180, 180), (-180, 180), (190, -170), (-190, 170), (360, 0), (725.5, 5.5), (-0.0, 0)],
)
def test_rotation_is_normalised_to_minus_180_exclusive_to_180_inclusive(given, stored):
    assert rotation_normalise(given) == pytest.approx(stored)
    assert math.copysign(1, rotation_normalise(given)) == math.copysign(1, stored) or stored != 0


def test_the_page_document_stores_and_reads_back_the_rotation_of_a_rectangle(task):
    stored = task_annotation_replace(
        task=task,
        document={"labels": [{"key": "bus", "type": "rectangle", "points": [[10, 20], [110, 70]], "rotation": -200}]},
    )
    assert stored["labels"][0]["rotation"] == pytest.approx(160)
    assert task_annotation_get(task=task)["labels"][0]["rotation"] == pytest.approx(160)


def test_a_bulk_write_keeps_the_rotation_of_each_shape(task):
    labels_write_batch(
        items=[(task.pk, MediaAnnotation(media=MediaRef(), shapes=[bus_shape(task, 33.25), bus_shape(task, 0)]))]
    )
    assert sorted(Label.objects.filter(task=task).values_list("rotation", flat=True)) == [0, 33.25]


def test_a_staged_batch_keeps_the_rotation(task):
    job_id = uuid.uuid4()
    staged = labels_batch_stage(
        items=[(task.pk, MediaAnnotation(media=MediaRef(), shapes=[bus_shape(task, -97.5)]))],
        import_job_id=job_id,
        import_batch=0,
    )
    labels_write_staged(batch=staged, import_job_id=job_id, import_batch=0)
    assert list(Label.objects.filter(task=task).values_list("rotation", flat=True)) == [-97.5]


def test_label_studio_boxes_turn_unless_the_control_says_can_rotate_false():
    xml = (
        '<View><Image name="image" value="$image"/>'
        '<RectangleLabels name="a" toName="image"><Label value="Panel"/></RectangleLabels>'
        '<RectangleLabels name="b" toName="image" canRotate="false"><Label value="Sign"/></RectangleLabels>'
        '<PolygonLabels name="c" toName="image"><Label value="Road"/></PolygonLabels></View>'
    )
    by_key = {entry["key"]: entry for entry in ls_config_to_entries(xml).entries}
    assert (by_key["panel"]["rotatable"], by_key["sign"]["rotatable"]) == (True, False)
    assert "rotatable" not in by_key["road"]


def test_corners_hull_and_corners_back_agree():
    points, rotation = [[200.0, 100.0], [400.0, 200.0]], 30.0
    corners = rectangle_corners(points, rotation)
    assert corners[1] == pytest.approx([200 + 200 * math.cos(math.radians(30)), 200])
    assert rectangle_hull(points, rotation) == pytest.approx((150, 100, 223.205, 186.603), abs=1e-3)
    # Any starting corner and either winding gives the same box back.
    for ordered in (corners, corners[2:] + corners[:2], list(reversed(corners))):
        back = rectangle_from_corners(ordered, tolerance=0.01)
        assert back is not None
        assert back[1] == pytest.approx(rotation)
        assert back[0][0] == pytest.approx(points[0])
        assert back[0][1] == pytest.approx(points[1])


def test_a_box_turned_more_than_45_degrees_comes_back_as_the_same_region_with_width_along_its_first_side():
    corners = rectangle_corners([[300.0, 100.0], [400.0, 300.0]], 70.0)
    back = rectangle_from_corners(corners, tolerance=0.01)
    assert back is not None
    box, rotation = back
    # The same 4 corners, whichever corner and rotation describe them.
    flat = [v for corner in sorted(map(tuple, corners)) for v in corner]
    assert [v for corner in sorted(map(tuple, rectangle_corners(box, rotation))) for v in corner] == pytest.approx(flat)
    assert -45 < rotation <= 45


def test_a_parallelogram_or_a_kite_is_no_rectangle():
    assert rectangle_from_corners([[0, 0], [100, 0], [150, 50], [50, 50]], tolerance=1) is None
    assert rectangle_from_corners([[50, 0], [100, 50], [50, 150], [0, 50]], tolerance=1) is None
