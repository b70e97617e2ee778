"""Large exports are split over forked processes by task id and joined in order.

On PostgreSQL and on SQLite in a file (the tests' database is one), a format that declares `parts`
(every format of issue 19's point 5) is written by several processes when there are enough tasks;
the result is the same bytes as one process writes (a ZIP: the same entries in the same order).
Inside an open transaction, or on an SQLite database in memory, one process writes it.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from exports.driver import export_processes, export_write
from exports.reader import ExportFilters, ExportReader
from formats import export_format_get
from formats.writing import UniqueNames
from labeling.models import Label, LabelSource
from tests.exports.conftest import label

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = 7


def written(project: Any, fmt: str, processes: int, **reader_fields: Any) -> bytes:
    reader = ExportReader(project=project, filters=ExportFilters(), chunk_size=2, **reader_fields)
    out = io.BytesIO()
    export_write(reader=reader, format=fmt, out=out, processes=processes, min_tasks_per_process=1)
    return out.getvalue()


def without_date(data: bytes) -> dict[str, Any]:
    document = json.loads(data)
    return {**document, "info": None}


@pytest.fixture
def labelled_tasks(export_project, make_task):
    return [label(export_project, make_task()) for _ in range(TASKS)]


def archive_entries(data: bytes) -> list[tuple[str, bytes]]:
    """A ZIP's entries in order, with their contents (its entries' times left out)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


#: Every format that splits over processes, with what one process writes and what is compared.
SPLIT_FORMATS = [
    "datagym",
    "coco",
    "label_studio",
    "label_studio_min",
    "csv",
    "yolo",
    "yolo_seg",
    "yolo_obb",
    "pascal_voc",
    "masks",
]


@pytest.mark.parametrize("fmt", SPLIT_FORMATS)
@pytest.mark.parametrize("processes", [2, 3])
def test_export_in_several_processes_equals_the_export_in_one(export_project, labelled_tasks, fmt, processes):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    assert export_format_get(name=fmt).parts is not None
    assert (
        export_processes(reader=reader, fmt=export_format_get(name=fmt), processes=processes, min_tasks_per_process=1)
        == processes
    )

    one = written(export_project, fmt, processes=1)
    several = written(export_project, fmt, processes=processes)

    if fmt == "coco":  # carries the moment it was made
        assert without_date(several) == without_date(one)
        assert len(json.loads(several)["images"]) == TASKS
    elif export_format_get(name=fmt).extension == "zip":  # entries carry the moment they were written
        entries = archive_entries(several)
        assert entries == archive_entries(one)
        assert len([name for name, _ in entries if name.count("/") and not name.startswith("ImageSets")]) == TASKS
    else:
        assert several == one
        if fmt in ("datagym", "label_studio", "label_studio_min"):
            assert len(json.loads(several)) == TASKS + (1 if fmt == "datagym" else 0)
        else:
            assert several.count(b"\r\n") > TASKS


@pytest.mark.parametrize("fmt", ["yolo", "pascal_voc", "masks"])
def test_archive_in_three_processes_names_media_of_one_name_as_one_process_does(export_project, make_task, fmt):
    # Seven media whose files take one name (`img`): the slices must count on from the names
    # taken before them, so that every entry keeps the name one process gives it.
    for index, name in enumerate(["img.jpg", "img.png", "IMG.jpg", "img.jpeg", "Img.gif", "img.bmp", "iMg.tif"]):
        label(export_project, make_task(name=name, external_id=f"e{index}"))

    one = archive_entries(written(export_project, fmt, processes=1))
    three = archive_entries(written(export_project, fmt, processes=3))

    assert three == one
    folder = {"yolo": "labels/", "pascal_voc": "Annotations/", "masks": "SegmentationClass/"}[fmt]
    names = [name for name, _ in three if name.startswith(folder)]
    assert len(names) == len({name.lower() for name in names}) == 7


def test_coco_in_three_processes_numbers_images_and_annotations_across_the_slices(export_project, labelled_tasks):
    document = json.loads(written(export_project, "coco", processes=3))

    image_ids = [image["id"] for image in document["images"]]
    annotation_ids = [annotation["id"] for annotation in document["annotations"]]
    assert image_ids == list(range(1, TASKS + 1))
    assert annotation_ids == list(range(1, len(annotation_ids) + 1))
    assert len(annotation_ids) == Label.objects.filter(task__project=export_project).count()
    by_id = {annotation["id"]: annotation for annotation in document["annotations"]}
    nested = [annotation for annotation in document["annotations"] if "parent_id" in annotation]
    assert nested
    for annotation in nested:
        assert by_id[annotation["parent_id"]]["image_id"] == annotation["image_id"]


def test_export_in_two_processes_reports_progress_up_to_every_task(export_project, labelled_tasks):
    seen: list[int] = []
    written(export_project, "datagym", processes=2, on_chunk=seen.append)

    assert seen == sorted(seen)
    assert seen[-1] == TASKS


def test_export_of_no_tasks_in_two_processes_is_an_empty_array(export_project, make_task):
    make_task(state="backlog")

    assert written(export_project, "datagym", processes=2) == b"[]"


def test_export_inside_a_transaction_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    coco = export_format_get(name="coco")
    with transaction.atomic():
        assert export_processes(reader=reader, fmt=coco, processes=2, min_tasks_per_process=1) == 1


def test_export_of_a_format_without_parts_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    cvat = export_format_get(name="cvat")

    assert cvat.parts is None
    assert export_processes(reader=reader, fmt=cvat, processes=2, min_tasks_per_process=1) == 1


def test_export_of_few_tasks_is_written_by_one_process(export_project, labelled_tasks):
    reader = ExportReader(project=export_project, filters=ExportFilters())
    coco = export_format_get(name="coco")

    assert export_processes(reader=reader, fmt=coco, processes=2, min_tasks_per_process=TASKS) == 1


def test_coco_in_two_processes_leaves_out_predictions_and_keeps_their_children(export_project, labelled_tasks):
    # A car made a prediction: without predictions its nested wheel stands alone in the export.
    car = Label.objects.filter(task=labelled_tasks[-1], entry__key="car").get()
    car.source = LabelSource.PREDICTION
    car.save(update_fields=["source"])

    document = json.loads(written(export_project, "coco", processes=2))

    labels = Label.objects.filter(task__project=export_project).exclude(source=LabelSource.PREDICTION).count()
    assert [annotation["id"] for annotation in document["annotations"]] == list(range(1, labels + 1))
    assert without_date(written(export_project, "coco", processes=1)) == without_date(json.dumps(document).encode())


def test_export_stopped_by_its_progress_callback_leaves_no_process_behind(export_project, labelled_tasks):
    class Stop(Exception):
        pass

    def stop(done: int) -> None:
        raise Stop

    before = _child_pids()
    with pytest.raises(Stop):
        written(export_project, "coco", processes=2, on_chunk=stop)

    # Other tests may have started long-lived children (a worker, an S3 server): only the
    # export's own forked writers must be gone, reaped rather than left as zombies.
    assert _child_pids() <= before


def _child_pids() -> set[int]:
    """This process's children, zombies included (Linux /proc)."""
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children.update(int(pid) for pid in (task / "children").read_text().split())
    return children


@pytest.mark.parametrize("fmt", ["yolo", "pascal_voc", "masks"])
@pytest.mark.parametrize("processes", [1, 3])
def test_a_media_named_like_a_numbered_copy_never_overwrites_an_entry(export_project, make_task, fmt, processes):
    # `img` twice makes `img_2`; a media of its own called `img_2` (in another case, later) must not
    # take that name again: two entries of one name would overwrite each other when unpacked.
    media = ["img.jpg", "img.png", "IMG_2.jpg", "img_3.png", "img.gif", "img_2.bmp", "other.jpg"]
    for index, name in enumerate(media):
        label(export_project, make_task(name=name, external_id=f"e{index}"))

    entries = archive_entries(written(export_project, fmt, processes=processes))

    folder = {"yolo": "labels/", "pascal_voc": "Annotations/", "masks": "SegmentationClass/"}[fmt]
    stems = [name[len(folder) :].rsplit(".", 1)[0] for name, _ in entries if name.startswith(folder)]
    assert len(stems) == len({stem.lower() for stem in stems}) == len(media)
    if processes > 1:
        assert entries == archive_entries(written(export_project, fmt, processes=1))


def test_unique_names_count_on_past_the_numbers_media_hold_themselves():
    names = UniqueNames()
    taken = [names.take(name, "txt") for name in ["img", "img", "IMG_2", "img_3", "img", "img_2", "Img", "other"]]
    assert taken == [
        "img.txt",
        "img_2.txt",
        "IMG_2_2.txt",
        "img_3.txt",
        "img_4.txt",
        "img_2_3.txt",
        "Img_5.txt",
        "other.txt",
    ]
    # A slice that starts from the state of the ones before it gives out what one process would.
    rest = UniqueNames(names.state())
    assert [rest.take(name, "xml") for name in ["img", "img_6", "other"]] == ["img_6.xml", "img_6_2.xml", "other_2.xml"]
