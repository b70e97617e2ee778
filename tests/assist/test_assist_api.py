"""POST /api/tasks/{id}/assist/{grabcut,magic-wand,scissors}: who may, what comes back, the limits."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any

import pytest
from django.core.files.base import ContentFile

from assist import slots
from labeling.models import Task, TaskState
from tests.api.conftest import World
from tests.assist.scenes import Scene, anchors_on_circle, iou, rings_mask, street_scene


def _url(world: World, tool: str) -> str:
    return f"/api/tasks/{world.task.id}/assist/{tool}"


def test_grabcut_answers_the_segmentation_of_the_object_in_the_box(assist_world: World, scene: Scene):
    response = assist_world.client("annotator").post(
        _url(assist_world, "grabcut"), {"box": scene.box_of("ring")}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "segmentation"
    assert len(body["points"]) == 2  # the ring's shell and its hole
    assert iou(rings_mask(body["points"], scene.width, scene.height), scene.truths["ring"]) >= 0.9
    assert body["area"] == pytest.approx(int(scene.truths["ring"].sum()), rel=0.1)
    assert body["cached"] is False


def test_grabcut_as_a_polygon_answers_one_ring(assist_world: World, scene: Scene):
    response = assist_world.client("annotator").post(
        _url(assist_world, "grabcut"), {"box": scene.box_of("star"), "geometry": "polygon"}, format="json"
    )
    assert response.status_code == 200, response.content
    ring = response.json()["points"]
    assert all(len(point) == 2 for point in ring)
    assert iou(rings_mask([ring], scene.width, scene.height), scene.truths["star"]) >= 0.9


def test_the_decoded_image_is_kept_for_the_next_click(assist_world: World, scene: Scene):
    client = assist_world.client("annotator")
    first = client.post(_url(assist_world, "magic-wand"), {"point": [170, 150], "tolerance": 40}, format="json")
    second = client.post(_url(assist_world, "magic-wand"), {"point": [450, 170], "tolerance": 40}, format="json")
    assert (first.json()["cached"], second.json()["cached"]) == (False, True)
    assert iou(rings_mask(second.json()["points"], scene.width, scene.height), scene.truths["star"]) >= 0.9


def test_magic_wand_answers_the_region_around_the_point(assist_world: World, scene: Scene):
    response = assist_world.client("reviewer").post(
        _url(assist_world, "magic-wand"),
        {"point": [170.4, 150.6], "tolerance": 40, "geometry": "polygon"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert iou(rings_mask([response.json()["points"]], scene.width, scene.height), scene.truths["disk"]) >= 0.9


def test_scissors_answer_an_open_path_then_the_closed_outline(assist_world: World, scene: Scene):
    client = assist_world.client("annotator")
    anchors = anchors_on_circle((170, 150), 90, 5)
    step = client.post(_url(assist_world, "scissors"), {"points": anchors[:2]}, format="json")
    assert step.status_code == 200, step.content
    assert step.json()["points"] == []
    assert step.json()["path"][0] == anchors[0]
    assert step.json()["path"][-1] == anchors[1]
    closed = client.post(
        _url(assist_world, "scissors"), {"points": anchors, "closed": True, "geometry": "segmentation"}, format="json"
    )
    assert closed.status_code == 200, closed.content
    rings = closed.json()["points"]
    assert iou(rings_mask(rings, scene.width, scene.height), scene.truths["disk"]) >= 0.9


# --- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["grabcut", "magic-wand", "scissors"])
def test_another_organisation_gets_404_and_no_token_401(assist_world: World, scene: Scene, tool: str):
    body = {
        "grabcut": {"box": scene.box_of("disk")},
        "magic-wand": {"point": [1, 1]},
        "scissors": {"points": [[1, 1], [9, 9]]},
    }
    assert assist_world.client("other_org").post(_url(assist_world, tool), body[tool], format="json").status_code == 404
    assert assist_world.client("anonymous").post(_url(assist_world, tool), body[tool], format="json").status_code == 401
    assert assist_world.client("revoked").post(_url(assist_world, tool), body[tool], format="json").status_code == 401


def test_a_completed_task_is_not_the_annotators_to_segment(assist_world: World, scene: Scene):
    # The tools are for whoever may label the task (task_get_for_labeling): a completed task is
    # closed to annotators, as its annotation is.
    Task.objects.filter(pk=assist_world.task.pk).update(state=TaskState.COMPLETED)
    response = assist_world.client("annotator").post(
        _url(assist_world, "magic-wand"), {"point": [170, 150]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_another_organisations_media_cannot_be_reached_through_our_task_id_in_their_project(
    assist_world: World, scene: Scene
):
    # The other organisation's own task: our annotator's token finds nothing there.
    from projects.services import dataset_connect, project_create
    from tests.factories import DatasetFactory, MediaFactory

    theirs = project_create(organization=assist_world.other_organization, name="Theirs")
    dataset: Any = DatasetFactory(organization=assist_world.other_organization)
    media: Any = MediaFactory(dataset=dataset)
    dataset_connect(dataset=dataset, project=theirs)
    task = Task.objects.get(project=theirs, media=media)
    response = assist_world.client("annotator").post(
        f"/api/tasks/{task.id}/assist/magic-wand", {"point": [1, 1]}, format="json"
    )
    assert response.status_code == 404


# --- limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "body", "path"),
    [
        ("grabcut", {"box": [[1, 1]]}, "box"),
        ("grabcut", {"box": [[1, 1], [5, "x"]]}, "box.1.1"),
        ("grabcut", {"box": [[1, 1], [50, 50]], "geometry": "line"}, "geometry"),
        ("grabcut", {"box": [[-5, 1], [50, 50]]}, "box[0]"),
        ("magic-wand", {"point": [1, 1], "tolerance": 256}, "tolerance"),
        ("magic-wand", {"point": [700, 10]}, "point"),
        ("magic-wand", {"point": ["NaN", 1]}, "point"),
        ("scissors", {"points": [[1, 1]] * 101}, "points"),
        ("scissors", {"points": [[1, 1]]}, "points"),
        ("scissors", {"points": [[10, 10], [20, 500]]}, "points[1]"),
    ],
)
def test_bad_input_is_refused_with_its_place(assist_world: World, tool: str, body: dict[str, Any], path: str):
    response = assist_world.client("annotator").post(_url(assist_world, tool), body, format="json")
    assert response.status_code == 400, response.content
    paths = [detail["path"] for detail in response.json()["error"]["details"]]
    assert any(p == path or p.startswith(path) for p in paths), paths


def test_a_box_too_small_is_refused_with_a_message_that_says_how(assist_world: World):
    response = assist_world.client("annotator").post(
        _url(assist_world, "grabcut"), {"box": [[10, 10], [12, 60]]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "assist_invalid_input"
    assert "draw it around the object" in response.json()["error"]["message"]


def test_a_click_on_a_lone_speck_at_zero_tolerance_says_nothing_was_found(assist_world: World, scene: Scene):
    response = assist_world.client("annotator").post(
        _url(assist_world, "magic-wand"), {"point": [20, 20], "tolerance": 0}, format="json"
    )
    # Background noise: at tolerance 0 the region is a pixel or nothing, too small to outline.
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "assist_nothing_found"
    assert "raise the tolerance" in response.json()["error"]["message"]


def test_an_image_above_the_pixel_limit_is_refused_before_it_is_decoded(assist_world: World, settings: Any):
    settings.LABELSITE_ASSIST_MAX_PIXELS = 1000
    response = assist_world.client("annotator").post(_url(assist_world, "magic-wand"), {"point": [5, 5]}, format="json")
    assert response.status_code == 413
    assert "LABELSITE_ASSIST_MAX_PIXELS" in response.json()["error"]["message"]


def test_a_stored_file_that_is_not_an_image_is_a_clear_error(assist_world: World):
    media = assist_world.media
    media.file.save("broken.png", ContentFile(b"not an image"), save=True)
    response = assist_world.client("annotator").post(_url(assist_world, "magic-wand"), {"point": [5, 5]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "media_not_an_image"


def test_a_recorded_size_that_is_not_the_images_is_refused(assist_world: World):
    type(assist_world.media).objects.filter(pk=assist_world.media.pk).update(width=1280, height=960)
    response = assist_world.client("annotator").post(_url(assist_world, "magic-wand"), {"point": [5, 5]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "media_size_mismatch"


def test_url_media_are_not_fetched_when_the_server_fetches_no_urls(world: World, settings: Any):
    settings.LABELSITE_MEDIA_PROBE_URLS = False
    response = world.client("annotator").post(
        f"/api/tasks/{world.task.id}/assist/magic-wand", {"point": [5, 5]}, format="json"
    )
    assert response.status_code == 400
    assert "LABELSITE_MEDIA_PROBE_URLS" in response.json()["error"]["message"]


# --- the bounded pool -----------------------------------------------------------------------------


def _hold(path: Any) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return descriptor


def test_busy_slots_and_a_full_queue_answer_429_with_retry_after(assist_world: World, settings: Any):
    settings.LABELSITE_ASSIST_CONCURRENCY = 1
    settings.LABELSITE_ASSIST_QUEUE = 0
    held = _hold(settings.VAR_DIR / "assist-slots" / "slot-0.lock")  # another process computing
    try:
        response = assist_world.client("annotator").post(
            _url(assist_world, "magic-wand"), {"point": [170, 150]}, format="json"
        )
    finally:
        os.close(held)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "assist_busy"
    again = assist_world.client("annotator").post(
        _url(assist_world, "magic-wand"), {"point": [170, 150]}, format="json"
    )
    assert again.status_code == 200


def test_a_request_waits_for_a_slot_within_the_wait_and_not_beyond(assist_world: World, settings: Any):
    settings.LABELSITE_ASSIST_CONCURRENCY = 1
    settings.LABELSITE_ASSIST_QUEUE = 1
    settings.LABELSITE_ASSIST_WAIT_SECONDS = 0.3
    held = _hold(settings.VAR_DIR / "assist-slots" / "slot-0.lock")
    started = time.monotonic()
    try:
        with pytest.raises(slots.AssistBusy, match="stayed busy"), slots.assist_slot():
            pass
    finally:
        waited = time.monotonic() - started
    assert waited >= 0.3
    # Released while one waits: the waiting request gets the slot.
    settings.LABELSITE_ASSIST_WAIT_SECONDS = 5
    threading.Timer(0.2, os.close, args=(held,)).start()
    with slots.assist_slot():
        pass
    assert time.monotonic() - started < 5


def test_the_slot_is_free_again_after_a_tool_fails(assist_world: World, settings: Any):
    settings.LABELSITE_ASSIST_CONCURRENCY = 1
    settings.LABELSITE_ASSIST_QUEUE = 0
    client = assist_world.client("annotator")
    failed = client.post(_url(assist_world, "grabcut"), {"box": [[10, 10], [12, 60]]}, format="json")
    assert failed.status_code == 400
    assert client.post(_url(assist_world, "magic-wand"), {"point": [170, 150]}, format="json").status_code == 200


def test_a_bigger_scene_is_the_same_api(assist_world: World, settings: Any):
    """A 2-megapixel image through the API (timings are in bench/assist_bench.py, not here)."""
    big = street_scene(1700, 1275)
    media = assist_world.media
    media.width, media.height = big.width, big.height
    media.file.save("big.png", ContentFile(big.png()), save=True)
    response = assist_world.client("annotator").post(
        _url(assist_world, "grabcut"), {"box": big.box_of("disk", margin=25)}, format="json"
    )
    assert response.status_code == 200
    assert iou(rings_mask(response.json()["points"], big.width, big.height), big.truths["disk"]) >= 0.9


def test_slots_fall_back_to_the_temporary_directory_when_the_var_directory_is_not_writable(
    settings: Any, tmp_path: Any
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the var directory should be")
    settings.VAR_DIR = blocked
    assert slots._slot_dir().name.startswith("labelsite-assist-slots-")
    with slots.assist_slot():
        pass  # a slot is taken there, not an error
