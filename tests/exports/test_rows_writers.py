"""The writers on `rows()` (Label Studio JSON and JSON_MIN, CSV, YOLO, Pascal VOC) write the bytes
the writers on the canonical model wrote (`canonical_writers`), on a project with every geometry
type, nested classes with their own questions, answer trees, rotated rectangles, predictions,
labels whose parent is left out, media of unknown size, names a spreadsheet would run, and a task
without labels."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import pytest

from exports.reader import ExportFilters, ExportReader
from formats import export_format_get
from formats.writing import zip_entry_write
from labeling.models import Label, LabelSource, Task, TaskState
from projects.label_config import label_config_replace
from projects.models import LabelEntry
from tests.exports import canonical_writers
from tests.exports.test_formats import ROAD
from tests.factories import DatasetFactory, MediaFactory, UserFactory

pytestmark = pytest.mark.django_db

CONFIG: list[dict[str, Any]] = [
    {
        "entryKey": "vehicle",
        "entryValue": "Vehicle",
        "type": "rectangle",
        "children": [
            {
                "entryKey": "kind",
                "entryValue": "Kind",
                "type": "select",
                "options": {"car": "Car", "van": "Van"},
                "children": [{"entryKey": "note", "entryValue": "Note", "type": "freetext", "maxLength": 50}],
            },
            {"entryKey": "flags", "entryValue": "Flags", "type": "checklist", "options": {"a": "A", "b": "B"}},
            {"entryKey": "plate", "entryValue": "Plate", "type": "rectangle", "children": []},
            {"entryKey": "window", "entryValue": "Window", "type": "polygon", "children": []},
            {"entryKey": "wheel", "entryValue": "Wheel", "type": "point", "children": []},
        ],
    },
    {"entryKey": "-area", "entryValue": "Area", "type": "polygon", "children": []},
    {"entryKey": "lane", "entryValue": "Lane", "type": "line", "children": []},
    {"entryKey": "poi", "entryValue": "POI", "type": "point", "children": []},
    {"entryKey": "road", "entryValue": "Road", "type": "segmentation", "children": []},
    {
        "entryKey": "weather",
        "entryValue": "Weather",
        "type": "select",
        "options": {"sunny": "Sunny", "rainy": "Rainy"},
        "children": [{"entryKey": "daytime", "entryValue": "Daytime", "type": "select", "options": {"day": "Day"}}],
    },
    {"entryKey": "tags", "entryValue": "Tags", "type": "checklist", "options": {"a": "A", "b": "B"}},
    {"entryKey": "comment", "entryValue": "Comment", "type": "freetext", "maxLength": 50},
]

GLOBAL = {
    "weather": {"value": "sunny", "answers": {"daytime": {"value": "day"}}},
    "tags": {"value": ["a", "b"]},
    "comment": {"value": "=1+1 & <b>"},
}
VEHICLE = {
    "kind": {"value": "van", "answers": {"note": {"value": "dented <door>"}}},
    "flags": {"value": ["b"]},
}
HOLED = [[[0, 0], [400, 0], [400, 300], [0, 300]], [[100, 100], [200, 100], [200, 200], [100, 200]]]


@pytest.fixture
def varied_project(project):
    label_config_replace(configuration=project.label_configuration, entries=CONFIG)
    datasets = [DatasetFactory(organization=project.organization) for _ in range(2)]
    for dataset in datasets:
        dataset.projects.add(project)
    entries = {entry.key: entry for entry in LabelEntry.objects.filter(configuration__project=project)}
    author = UserFactory(username="-ann")

    def task(name: str, width: int | None = 800, height: int | None = 600, **fields: Any) -> Task:
        url = f"https://img.example/{Task.objects.count()}/{name}"
        # Two media of one name, in two datasets: the archives keep their files apart.
        dataset = datasets[Task.objects.filter(media__name=name).count()]
        media: Any = MediaFactory(dataset=dataset, name=name, url=url, width=width, height=height)
        return Task.objects.create(project=project, media=media, state=TaskState.COMPLETED, **fields)

    def add(task: Task, key: str, points: Any, **fields: Any) -> Label:
        return Label.objects.create(task=task, entry=entries[key], points=points, **fields)

    for index, (width, height) in enumerate([(800, 600), (None, None), (1920, 1080), (640, None)]):
        one = task(f"img_{index % 2}.jpg", width, height, answers=GLOBAL)
        car = add(one, "vehicle", [[10.5, 20], [110, 220.25]], answers=VEHICLE, author=author, rotation=30.0)
        add(one, "plate", [[20, 30], [40, 50]], parent=car, answers={})
        add(one, "window", [[15, 25], [30, 25], [30, 40]], parent=car)
        add(one, "wheel", [[12, 200]], parent=car)
        add(one, "vehicle", [[300, 300], [200, 250]], answers={"kind": {"value": None}}, model_version="")
        add(one, "-area", [[0, 0], [50.123456789, 0], [50, 50]], source=LabelSource.IMPORT)
        add(one, "lane", [[1, 1], [799, 599], [400, 2]])
        add(one, "poi", [[-5, 700]])
        add(one, "road", ROAD)
        add(one, "road", HOLED)
        guess = add(one, "vehicle", [[5, 5], [60, 60]], source=LabelSource.PREDICTION, score=0.75, model_version="m1")
        add(one, "plate", [[6, 6], [9, 9]], parent=guess, source=LabelSource.MANUAL)
        add(one, "poi", [[3, 3]], source=LabelSource.PREDICTION, score=None, model_version="m2")
        add(one, "vehicle", [[1, 2]], answers={"flags": {"value": []}})  # malformed: one point
        add(one, "-area", [[1, 2], [3, "x"], [5, 6], [7, 8]])  # malformed: a text coordinate
    task("=cmd|' /C calc'!A0.png")  # no labels, no answers
    task("@sum.png", answers={"comment": {"value": "-2"}})
    return project


def reader(project: Any, include_predictions: bool) -> ExportReader:
    return ExportReader(project=project, filters=ExportFilters(include_predictions=include_predictions), chunk_size=2)


def written(project: Any, fmt: str, include_predictions: bool) -> bytes:
    out = io.BytesIO()
    for _ in export_format_get(name=fmt).write(reader(project, include_predictions), out):
        pass
    return out.getvalue()


def entries(data: bytes, folder: str) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist() if name.startswith(f"{folder}/")]


@pytest.mark.parametrize("include_predictions", [False, True])
@pytest.mark.parametrize("fmt", ["label_studio", "label_studio_min"])
def test_label_studio_on_rows_writes_the_bytes_of_the_canonical_writer(varied_project, fmt, include_predictions):
    expected = canonical_writers.label_studio_tasks(
        reader(varied_project, include_predictions), minimal=fmt == "label_studio_min"
    )
    assert written(varied_project, fmt, include_predictions) == expected
    assert b'"parentID"' in expected or fmt == "label_studio_min"
    assert (b'"model_version":"m1"' in expected) == (include_predictions and fmt == "label_studio")


@pytest.mark.parametrize("include_predictions", [False, True])
def test_csv_on_rows_writes_the_bytes_of_the_canonical_writer(varied_project, include_predictions):
    data = written(varied_project, "csv", include_predictions)
    _header, _, rows = data.partition(b"\r\n")
    assert rows == canonical_writers.csv_rows(reader(varied_project, include_predictions))
    cells = list(csv.reader(io.StringIO(data.decode())))
    neutralised = {cell for row in cells for cell in row if cell.startswith("'")}
    assert {"'-area", "'-ann", "'@sum.png", "'=cmd|' /C calc'!A0.png"} <= neutralised


@pytest.mark.parametrize("include_predictions", [False, True])
@pytest.mark.parametrize(
    ("fmt", "segments", "obb", "types"),
    [
        ("yolo", False, False, canonical_writers.YOLO_DETECT),
        ("yolo_seg", True, False, canonical_writers.YOLO_DETECT),
        ("yolo_obb", False, True, canonical_writers.YOLO_OBB),
    ],
)
def test_yolo_on_rows_writes_the_files_of_the_canonical_writer(
    varied_project, fmt, segments, obb, types, include_predictions
):
    source = reader(varied_project, include_predictions)
    document = canonical_writers.yolo_file(source, segments=segments, obb=obb, types=types)
    expected = canonical_writers.archive_entries(source, "labels", "txt", document)
    assert entries(written(varied_project, fmt, include_predictions), "labels") == expected
    assert sum(1 for _, data in expected if data) >= 2


@pytest.mark.parametrize("include_predictions", [False, True])
def test_pascal_voc_on_rows_writes_the_documents_of_the_canonical_writer(varied_project, include_predictions):
    source = reader(varied_project, include_predictions)
    expected = canonical_writers.archive_entries(source, "Annotations", "xml", canonical_writers.voc_file)
    assert entries(written(varied_project, "pascal_voc", include_predictions), "Annotations") == expected
    assert any(b"<part>" in data and b"<attributes>" in data for _, data in expected)


def test_yolo_normalises_and_clips_as_min_max_did():
    from formats.yolo import _normalised

    values = [-0.0, 0.0, float("nan"), -3.0, 0.25, 800.0, 900.0, float("inf"), float("-inf")]
    pairs = [(x, y) for x in values for y in values]
    expected = " ".join(f"{min(1.0, max(0.0, x / 800)):.6f} {min(1.0, max(0.0, y / 600)):.6f}" for x, y in pairs)
    assert _normalised(pairs, 800.0, 600.0) == expected


@pytest.mark.parametrize(
    "name", ["a/b/c.png", "..x", "a:b?.jpg", "tab\there", "ok name.jpg", "", "é.png", "x|y", "\u200b.png"]
)
def test_safe_name_keeps_a_clean_name_whole_and_replaces_as_before(name):
    from formats.writing import safe_name

    base = name.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".") or "media"
    assert safe_name(name) == "".join(c if c.isprintable() and c not in ':*?"<>|' else "_" for c in base)


@pytest.mark.parametrize(
    ("fmt", "folder"),
    [("yolo", "labels"), ("yolo_seg", "labels"), ("yolo_obb", "labels"), ("pascal_voc", "Annotations")],
)
def test_per_image_files_are_deflated_and_read_back_by_zlib(varied_project, fmt, folder):
    # zip_entry_write deflates them with ISA-L: the archive is a plain ZIP that zipfile (zlib)
    # inflates, every entry with its CRC, and its per-image files are compressed.
    with zipfile.ZipFile(io.BytesIO(written(varied_project, fmt, False))) as archive:
        assert archive.testzip() is None  # every entry reads back with its CRC
        infos = archive.infolist()
    per_image = [info for info in infos if info.filename.startswith(f"{folder}/")]
    assert per_image
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    assert sum(info.compress_size for info in per_image) < sum(info.file_size for info in per_image)


def test_a_small_entry_is_one_writestr_would_make_but_for_its_deflate_stream():
    data = b"<annotation><object><name>car</name></object></annotation>\n" * 40
    for compression in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        ours, theirs = io.BytesIO(), io.BytesIO()
        with zipfile.ZipFile(ours, "w", compression=compression) as archive:
            zip_entry_write(archive, "Annotations/a.xml", data)
            zip_entry_write(archive, "labels/a.txt", b"0 0.5 0.5 0.1 0.1\n")
        with zipfile.ZipFile(theirs, "w", compression=compression) as archive:
            archive.writestr("Annotations/a.xml", data)
            archive.writestr("labels/a.txt", b"0 0.5 0.5 0.1 0.1\n")
        _same_entries(ours, theirs)


def _same_entries(ours: io.BytesIO, theirs: io.BytesIO) -> None:
    with zipfile.ZipFile(ours) as mine, zipfile.ZipFile(theirs) as reference:
        assert mine.testzip() is None
        fields = ("filename", "compress_type", "file_size", "CRC", "external_attr")
        assert [[getattr(info, name) for name in fields] for info in mine.infolist()] == [
            [getattr(info, name) for name in fields] for info in reference.infolist()
        ]
        assert [mine.read(name) for name in mine.namelist()] == [reference.read(name) for name in reference.namelist()]
