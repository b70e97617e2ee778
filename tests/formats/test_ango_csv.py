"""Ango Hub's CSV "Import Labels": the documented config, classification cells, masks to polygons.

The project is configured with seed 004's category schema (tests/formats/conftest.py);
CSV files and PNG masks are made here. URL masks come from a local HTTP server that the
allow-list opens (only the internet would be mocked; nothing is).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageDraw
from shapely.geometry import Polygon

from formats import format_detect, format_get, format_list
from formats.reading import FileError
from imports.models import ImportStatus
from imports.services import import_job_create, import_job_validate, import_job_write, import_options_clean
from labeling.models import Label, Task
from labelsite.errors import ValidationFailed
from projects.label_config import label_config_index
from tests.formats.conftest import read_all

pytestmark = pytest.mark.django_db

FMT = format_get(name="ango_csv")
EXAMPLE = Path(__file__).parent / "data" / "ango_csv.csv"  # see data/README.md
RED, BLUE, PURPLE = (244, 67, 54), (3, 169, 244), (156, 39, 176)  # Car, Person, Other (the seed's colours)
YELLOW = (255, 255, 0)  # Lane, a polygon tool
IDS = {"Color": "8c481a58f4c68e5db0a5016", "Type": "12a20f8061c044bcff26688", "Question": "1976d3fc0fa1429e23f7171"}
SEED_CONFIG: dict[str, Any] = {
    "external_id_column": "External ID",
    "classification_columns": ["Color", "Category", "Image Type"],
    "classification_schema_ids": [IDS["Color"], IDS["Type"], IDS["Question"]],
    "mask_column": "",
}
W, H = 64, 48


def config(**changes: Any) -> dict[str, Any]:
    return {**SEED_CONFIG, **changes}


def csv_text(*rows: str, header: str = "External ID,Color,Category,Image Type,Mask") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def scene(width: int = W, height: int = H) -> np.ndarray:
    """A red ring with a hole (Car), a blue square (Person), a yellow triangle (Lane)."""
    image = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle([4, 4, 23, 23], fill=RED)
    draw.rectangle([10, 10, 17, 17], fill=(0, 0, 0))
    draw.rectangle([40, 4, 49, 13], fill=BLUE)
    draw.polygon([(30, 30), (50, 30), (40, 44)], fill=YELLOW)
    return np.asarray(image)


def anti_aliased_red_blue(width: int = W, height: int = H) -> np.ndarray:
    """Red left half, blue right half, drawn 4x larger and area-downsampled: the seam is a column of
    blends (about (123, 118, 149)) closer to the seed's purple "Other" than to red or blue."""
    big = Image.new("RGB", (width * 4, height * 4), (0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.rectangle([8, 8, width * 2 + 1, height * 4 - 9], fill=RED)
    draw.rectangle([width * 2 + 2, 8, width * 4 - 9, height * 4 - 9], fill=BLUE)
    return np.asarray(big.resize((width, height), Image.Resampling.BOX))


@pytest.fixture
def mask_server() -> Iterator[dict[str, Any]]:
    """A local HTTP server for mask URLs: put bytes at a path in `files`; `base` is its URL."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"files": files, "base": f"http://127.0.0.1:{server.server_address[1]}"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def loopback_allowed(settings):
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1"]


@pytest.fixture
def mask_storage(tmp_path, settings, organization):
    root = tmp_path / "bucket"
    (root / "masks").mkdir(parents=True)
    settings.LABELSITE_MASK_STORAGES = {
        "ours": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
            "organizations": [str(organization.pk)],
        },
        "theirs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
            "organizations": ["00000000-0000-0000-0000-000000000000"],
        },
    }
    return root


def run(project, content: bytes, options: dict[str, Any]):
    job = import_job_create(
        project=project, user=None, file=content, file_name="labels.csv", format="ango_csv", options=options
    )
    return import_job_validate(job_id=job.id)


def errors_of(job) -> list[tuple[str, str]]:
    return list(job.errors.order_by("id").values_list("location", "code"))


def convert_rows(ango_config, content: bytes, options: dict[str, Any], organization_id: Any = None):
    cleaned = import_options_clean(options, fmt=FMT, organization_id=organization_id)
    return [
        FMT.convert_item(item.data, ango_config, index=item.index, match_by="external_id", options=cleaned)
        for item in read_all(FMT, content, **cleaned)
    ]


# --- the registry and the config ------------------------------------------------------------------


def test_ango_csv_is_in_the_registry_with_an_example_and_leaves_csv_detection_to_label_studio():
    assert FMT in format_list()
    assert FMT.description
    assert EXAMPLE.exists()
    assert format_detect(file_name="x.csv", head=EXAMPLE.read_bytes()) is format_get(name="label_studio_csv")


def test_the_example_file_has_the_seed_columns():
    (first, *_rest) = read_all(FMT, EXAMPLE.read_bytes(), **config(mask_column="Mask"))

    assert set(first.data["cells"]) == {"External ID", "Color", "Category", "Image Type", "Mask"}


def test_the_seed_config_is_accepted_with_its_documented_defaults():
    cleaned = import_options_clean(config(), fmt=FMT)

    assert cleaned["segmentation_mode"] == "instance_segmentation"
    assert cleaned["polygon_simplification_tolerance"] == 0.1
    assert cleaned["overwrite"] is True
    assert cleaned["upload_batch_size"] == 100
    assert cleaned["match_by"] == "external_id"


def test_columns_and_schema_ids_of_different_lengths_are_refused_before_any_work(ango_project):
    with pytest.raises(ValidationFailed) as caught:
        import_job_create(project=ango_project, user=None, file=csv_text("a,b,A,,"), file_name="l.csv",
                          format="ango_csv", options=config(classification_schema_ids=[IDS["Color"]]))  # fmt: skip

    (detail,) = caught.value.details
    assert detail.path == "options.classification_schema_ids"
    assert "3 column(s)" in detail.message
    assert "1 schemaId(s)" in detail.message
    assert not ango_project.import_jobs.exists()


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"segmentation_mode": "instances"}, "options.segmentation_mode"),
        ({"mask_color_mapping": "colours"}, "options.mask_color_mapping"),
        ({"mask_color_mapping": {"Car": [300, 0, 0]}}, "options.mask_color_mapping.Car"),
        ({"mask_color_mapping": {"Car": [1, 2]}}, "options.mask_color_mapping.Car"),
        ({"polygon_simplification_tolerance": -1}, "options.polygon_simplification_tolerance"),
        ({"overwrite": "yes"}, "options.overwrite"),
        ({"upload_batch_size": 0}, "options.upload_batch_size"),
        ({"external_id_column": ""}, "options.external_id_column"),
        ({"classification_columns": "Color"}, "options.classification_columns"),
        ({"ignored_schema_ids": [1]}, "options.ignored_schema_ids[0]"),
        ({"match_by": "name"}, "options.match_by"),
    ],
)
def test_a_wrong_config_value_is_refused_naming_its_field(changes, path):
    with pytest.raises(ValidationFailed) as caught:
        import_options_clean(config(**changes), fmt=FMT)

    assert [d.path for d in caught.value.details] == [path]
    assert caught.value.details[0].message.startswith(path.removeprefix("options."))


def test_an_unknown_config_key_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        import_options_clean(config(mask_colour_mapping="project_colors"), fmt=FMT)

    assert [d.code for d in caught.value.details] == ["unknown_option"]


def test_a_storage_of_another_organisation_is_unknown(ango_project, mask_storage):
    import_options_clean(config(storage_id="ours"), fmt=FMT, organization_id=ango_project.organization_id)
    for storage_id in ("theirs", "nowhere"):
        with pytest.raises(ValidationFailed) as caught:
            import_options_clean(config(storage_id=storage_id), fmt=FMT, organization_id=ango_project.organization_id)
        assert [d.code for d in caught.value.details] == ["unknown_storage"]


def test_a_column_missing_from_the_header_is_named_with_the_header_listed():
    with pytest.raises(FileError) as caught:
        read_all(FMT, csv_text("a,b,A,,", header="External ID,Colour,Category,Image Type,Mask"),
                 **config(mask_column="Masks"))  # fmt: skip

    assert [d.path for d in caught.value.details] == ["options.classification_columns[0]", "options.mask_column"]
    assert "'Colour'" in caught.value.details[0].message
    assert "'Color'" in caught.value.details[0].message
    assert "'Masks'" in caught.value.details[1].message


def test_a_missing_column_fails_the_job_with_nothing_written(ango_project, make_task, media_storage):
    make_task(ango_project, external_id="img_1")
    job = run(ango_project, csv_text("img_1,red,A,,", header="External ID,Color,Kind,Image Type,Mask"), config())

    assert job.status == ImportStatus.FAILED
    assert errors_of(job) == [("options.classification_columns[1]", "column_missing")]


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"classification_schema_ids": [IDS["Color"], "nope", IDS["Question"]]},
         "options.classification_schema_ids[1]", "unknown_schema_id"),
        ({"classification_schema_ids": [IDS["Color"], "f104b6b9cdb84966812b002", IDS["Question"]]},
         "options.classification_schema_ids[1]", "not_a_classification"),
        ({"classification_schema_ids": [IDS["Color"], "a1-shape", IDS["Question"]]},
         "options.classification_schema_ids[1]", "nested_classification"),
        ({"mask_column": "Mask", "mask_color_mapping": {"Truck": [1, 2, 3]}}, "options.mask_color_mapping.Truck",
         "unknown_title"),
        ({"mask_column": "Mask", "mask_color_mapping": {"Car": [1, 2, 3], "Person": [1, 2, 3]}},
         "options.mask_color_mapping.Person", "duplicate_colour"),
        ({"mask_column": "Mask", "mask_color_mapping": {"Car": [0]}}, "options.mask_color_mapping.Car",
         "background_colour"),
        ({"mask_column": "Mask", "mask_color_mapping": {"Car": [1], "Person": [3, 169, 244]}},
         "options.mask_color_mapping", "mixed_mapping"),
    ],
)  # fmt: skip
def test_a_config_that_does_not_fit_the_project_stops_at_the_first_row(ango_config, changes, path, code):
    with pytest.raises(FileError) as caught:
        convert_rows(ango_config, csv_text("img_1,red,A,,"), config(**changes))

    assert [(d.path, d.code) for d in caught.value.details] == [(path, code)]


# --- classification cells ------------------------------------------------------------------------


def test_cells_become_answers_by_position_and_multi_values_split_on_semicolons(ango_config):
    (row,) = convert_rows(ango_config, csv_text('img_1, dark red ,A,"Option1; ;Option2 ",'), config())

    assert row.errors == []
    answers = {a.key: a.value for a in row.annotation.answers}
    assert answers == {"color": " dark red ", "type": "a", "question": ["option1", "option2"]}
    assert row.reference.external_id == "img_1"
    assert row.annotation.keep_data is False  # overwrite defaults to true


def test_an_empty_cell_is_no_answer(ango_config):
    (row,) = convert_rows(ango_config, csv_text("img_2,,C,,"), config())

    assert [(a.key, a.value) for a in row.annotation.answers] == [("type", "c")]


@pytest.mark.parametrize(
    ("line", "location", "code"),
    [
        ("img_1,red,D,,", 'row 2, column "Category"', "unknown_answer"),
        ("img_1,red,A,Option1;Option3,", 'row 2, column "Image Type"', "unknown_answer"),
        (",red,A,,", 'row 2, column "External ID"', "external_id_missing"),
        ("img_1,red,A", "row 2", "wrong_cell_count"),
    ],
)
def test_a_wrong_cell_is_an_error_naming_row_and_column(ango_config, line, location, code):
    (row,) = convert_rows(ango_config, csv_text(line), config())

    assert [(e.path, e.code) for e in row.errors] == [(location, code)]
    assert row.annotation is None


def test_an_answer_error_lists_the_allowed_values(ango_config):
    (row,) = convert_rows(ango_config, csv_text("img_1,red,a,,"), config())

    assert "'A', 'B', 'C'" in row.errors[0].message


def test_ignored_schema_ids_leave_their_columns_out(ango_config):
    (row,) = convert_rows(ango_config, csv_text("img_1,red,NOT AN OPTION,,"), config(ignored_schema_ids=[IDS["Type"]]))

    assert row.errors == []
    assert [a.key for a in row.annotation.answers] == ["color"]


def test_overwrite_false_adds_to_the_media_labels(ango_config):
    (row,) = convert_rows(ango_config, csv_text("img_1,red,A,,"), config(overwrite=False))

    assert row.annotation.keep_data is True


# --- masks ---------------------------------------------------------------------------------------


def mask_rows(ango_config, mask: bytes, mask_server, **changes: Any):
    mask_server["files"]["/m.png"] = mask
    return convert_rows(
        ango_config, csv_text(f"img_1,,,,{mask_server['base']}/m.png"), config(mask_column="Mask", **changes)
    )


def test_a_mask_by_url_becomes_polygons_with_holes_in_pixels(ango_config, mask_server, loopback_allowed):
    (row,) = mask_rows(ango_config, png(scene()), mask_server)

    assert row.errors == []
    shapes = {shape.key: shape for shape in row.annotation.shapes}
    assert set(shapes) == {"car", "person", "lane"}
    car = shapes["car"]
    assert car.type == "segmentation"
    assert car.schema_id == "f104b6b9cdb84966812b002"
    shell, hole = (Polygon(ring) for ring in car.points)
    assert shell.bounds == (4, 4, 23, 23)
    assert hole.bounds == (9, 9, 18, 18)
    ring = Polygon(car.points[0], [car.points[1]])
    # OpenCV traces through pixel centres: the outline is inset by half a pixel, the hole's corners cut.
    assert ring.is_valid
    assert ring.area == pytest.approx(19 * 19 - 9 * 9, abs=4)
    assert Polygon(shapes["person"].points[0]).bounds == (40, 4, 49, 13)
    lane = shapes["lane"]
    assert lane.type == "polygon"
    assert Polygon(lane.points).is_valid
    assert row.size_check is not None
    assert (row.size_check.width, row.size_check.height) == (W, H)


def test_anti_aliased_edges_never_make_specks_of_a_third_class(ango_config, mask_server, loopback_allowed):
    mask = anti_aliased_red_blue()
    seam = {tuple(p) for p in mask.reshape(-1, 3).tolist()} - {RED, BLUE, (0, 0, 0)}
    assert seam, "the fixture must have blended pixels"
    nearest_is_purple = [
        c for c in seam
        if min((RED, BLUE, PURPLE), key=lambda p: sum((a - b) ** 2 for a, b in zip(c, p, strict=True))) == PURPLE
    ]  # fmt: skip
    assert nearest_is_purple, "nearest-colour matching would paint this seam purple"

    (row,) = mask_rows(ango_config, png(mask), mask_server)

    assert row.errors == []
    assert sorted(shape.key for shape in row.annotation.shapes) == ["car", "person"]


def test_instance_mode_gives_one_object_per_region_semantic_one_per_class(ango_config, mask_server, loopback_allowed):
    two_cars = np.zeros((H, W, 3), dtype=np.uint8)
    two_cars[2:10, 2:10] = RED
    two_cars[20:30, 30:40] = RED

    (instance,) = mask_rows(ango_config, png(two_cars), mask_server)
    (semantic,) = mask_rows(ango_config, png(two_cars), mask_server, segmentation_mode="semantic_segmentation")

    assert [len(shape.points) for shape in instance.annotation.shapes] == [1, 1]
    assert [len(shape.points) for shape in semantic.annotation.shapes] == [2]


def test_the_tolerance_is_in_pixels(ango_config, mask_server, loopback_allowed):
    disc = Image.new("RGB", (W, H))
    ImageDraw.Draw(disc).ellipse([4, 4, 44, 44], fill=RED)

    (fine,) = mask_rows(ango_config, png(np.asarray(disc)), mask_server, polygon_simplification_tolerance=0.1)
    (coarse,) = mask_rows(ango_config, png(np.asarray(disc)), mask_server, polygon_simplification_tolerance=2)

    fine_ring, coarse_ring = fine.annotation.shapes[0].points[0], coarse.annotation.shapes[0].points[0]
    assert len(coarse_ring) < len(fine_ring) / 2
    assert Polygon(coarse_ring).hausdorff_distance(Polygon(fine_ring)) <= 2.5


def test_an_index_mask_maps_values_to_tool_titles(ango_config, mask_server, loopback_allowed):
    index = np.zeros((H, W), dtype=np.uint8)
    index[5:15, 5:15] = 1
    index[20:30, 20:40] = 2

    (row,) = mask_rows(ango_config, png(index), mask_server, mask_color_mapping={"Car": [1], "Person": [2]})

    assert row.errors == []
    assert {s.key: Polygon(s.points[0]).bounds for s in row.annotation.shapes} == {
        "car": (5, 5, 14, 14), "person": (20, 20, 39, 29)}  # fmt: skip


def test_an_rgb_mapping_maps_its_own_colours_to_tool_titles(ango_config, mask_server, loopback_allowed):
    mask = np.zeros((H, W, 3), dtype=np.uint8)
    mask[5:15, 5:15] = (10, 20, 30)
    mask[20:30, 20:40] = RED  # the project colour of Car, not mapped here

    (row,) = mask_rows(
        ango_config, png(mask), mask_server, mask_color_mapping={"Car": [10, 20, 30], "Other": list(RED)}
    )

    assert row.errors == []
    assert {s.key: Polygon(s.points[0]).bounds for s in row.annotation.shapes} == {
        "car": (5, 5, 14, 14), "other": (20, 20, 39, 29)}  # fmt: skip


def test_a_polygon_tool_takes_the_outline_of_a_region_with_a_hole(ango_config, mask_server, loopback_allowed):
    mask = np.zeros((H, W, 3), dtype=np.uint8)
    mask[4:24, 4:24] = YELLOW
    mask[10:18, 10:18] = 0

    (row,) = mask_rows(ango_config, png(mask), mask_server)

    (lane,) = row.annotation.shapes
    assert lane.type == "polygon"
    assert Polygon(lane.points).bounds == (4, 4, 23, 23)


def test_an_rgb_mask_with_an_index_mapping_is_an_error(ango_config, mask_server, loopback_allowed):
    (row,) = mask_rows(ango_config, png(scene()), mask_server, mask_color_mapping={"Car": [1]})

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_not_indexed")]


def test_a_colour_no_class_is_mapped_to_is_an_error_with_its_pixel_count(ango_config, mask_server, loopback_allowed):
    mask = scene().copy()
    mask[30:40, 2:12] = (0, 255, 0)

    (row,) = mask_rows(ango_config, png(mask), mask_server)

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "unmapped_colour")]
    assert "[0, 255, 0] (100 px)" in row.errors[0].message


def test_ignored_tools_are_not_imported(ango_config, mask_server, loopback_allowed):
    (row,) = mask_rows(ango_config, png(scene()), mask_server, ignored_schema_ids=["f104b6b9cdb84966812b002"])

    assert sorted(shape.key for shape in row.annotation.shapes) == ["lane", "person"]


def test_a_mask_url_on_a_private_address_is_refused(ango_config, mask_server):
    (row,) = mask_rows(ango_config, png(scene()), mask_server)

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_unavailable")]
    assert "non-public address" in row.errors[0].message


def test_a_missing_mask_url_is_an_error(ango_config, mask_server, loopback_allowed):
    (row,) = convert_rows(ango_config, csv_text(f"img_1,,,,{mask_server['base']}/gone.png"), config(mask_column="Mask"))

    assert [e.code for e in row.errors] == ["mask_unavailable"]
    assert "404" in row.errors[0].message


def test_a_mask_with_more_pixels_than_allowed_is_refused_before_decoding(
    ango_config, mask_server, loopback_allowed, settings
):
    settings.LABELSITE_MAX_IMAGE_PIXELS = W * H - 1

    (row,) = mask_rows(ango_config, png(scene()), mask_server)

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_too_large")]


def test_a_mask_that_is_no_image_is_an_error(ango_config, mask_server, loopback_allowed):
    (row,) = mask_rows(ango_config, b"not a png", mask_server)
    (broken,) = mask_rows(ango_config, png(scene())[:40], mask_server)  # a PNG's start, cut short

    assert [(e.path, e.code) for e in row.errors] == [('row 2, column "Mask"', "mask_not_png")]
    assert [(e.path, e.code) for e in broken.errors] == [('row 2, column "Mask"', "mask_unreadable")]


def test_a_mask_path_is_read_from_the_storage_and_never_outside_it(ango_config, mask_storage, organization):
    (mask_storage / "masks" / "a.png").write_bytes(png(scene()))
    (mask_storage.parent / "secret.png").write_bytes(png(scene()))
    rows = convert_rows(
        ango_config,
        csv_text("img_1,,,,masks/a.png", "img_2,,,,../secret.png", "img_3,,,,masks/none.png"),
        config(mask_column="Mask", storage_id="ours"),
        organization_id=organization.pk,
    )

    assert rows[0].errors == []
    assert len(rows[0].annotation.shapes) == 3
    assert [(e.path, e.code) for e in rows[1].errors] == [('row 3, column "Mask"', "mask_unavailable")]
    assert [(e.path, e.code) for e in rows[2].errors] == [('row 4, column "Mask"', "mask_unavailable")]


def test_a_mask_path_without_a_storage_says_what_to_do(ango_config):
    (row,) = convert_rows(ango_config, csv_text("img_1,,,,masks/a.png"), config(mask_column="Mask"))

    assert [e.code for e in row.errors] == ["mask_unavailable"]
    assert "storage_id" in row.errors[0].message


# --- whole jobs ----------------------------------------------------------------------------------


def test_a_mask_of_another_size_than_the_image_is_an_error(
    ango_project, make_task, media_storage, mask_server, loopback_allowed
):
    make_task(ango_project, external_id="img_1", width=W, height=H)
    make_task(ango_project, external_id="img_2", width=W * 2, height=H)
    mask_server["files"]["/m.png"] = png(scene())
    url = f"{mask_server['base']}/m.png"

    job = run(ango_project, csv_text(f"img_1,,,,{url}", f"img_2,,,,{url}"), config(mask_column="Mask"))

    assert job.status == ImportStatus.FAILED
    ((location, code),) = errors_of(job)
    assert (location, code) == ('row 3, column "Mask"', "size_mismatch")
    assert f"{W}x{H} pixels but the image is {W * 2}x{H}" in job.errors.get().message
    assert not Label.objects.exists()


def test_an_external_id_that_matches_no_media_is_an_error_at_its_cell(ango_project, make_task, media_storage):
    make_task(ango_project, external_id="img_1")

    job = run(ango_project, csv_text("img_1,red,A,,", "img_9,red,A,,"), config())

    assert errors_of(job) == [('row 3, column "External ID"', "media_not_found")]


def test_a_fixed_file_imports_and_its_labels_land_with_classes_and_pixels(
    ango_project, make_task, media_storage, mask_server, loopback_allowed
):
    first = make_task(ango_project, external_id="img_1", width=W, height=H)
    second = make_task(ango_project, external_id="img_2", width=W, height=H)
    mask_server["files"]["/1.png"] = png(scene())
    base = mask_server["base"]
    broken = csv_text(f"img_1,dark red,A,Option1;Option2,{base}/1.png", "img_2,,E,Option2,")
    fixed = csv_text(f"img_1,dark red,A,Option1;Option2,{base}/1.png", "img_2,,C,Option2,")
    options = config(mask_column="Mask", upload_batch_size=1)

    failed = run(ango_project, broken, options)
    assert errors_of(failed) == [('row 3, column "Category"', "unknown_answer")]
    job = run(ango_project, fixed, options)
    assert job.status == ImportStatus.VALIDATED, list(job.errors.values_list("message", flat=True))
    job = import_job_write(job_id=job.id)

    assert job.status == ImportStatus.SUCCEEDED
    assert job.checkpoint == 1  # upload_batch_size 1: two batches
    labels = {label.entry.title: label for label in Label.objects.filter(task=first).select_related("entry")}
    assert set(labels) == {"Car", "Person", "Lane"}
    assert [Polygon(ring).bounds for ring in labels["Car"].points] == [(4, 4, 23, 23), (9, 9, 18, 18)]
    assert Polygon(labels["Person"].points[0]).bounds == (40, 4, 49, 13)
    assert shapely.is_valid(Polygon(labels["Lane"].points))
    answers = Task.objects.get(pk=first.pk).answers
    assert (answers["color"]["value"], answers["type"]["value"], answers["question"]["value"]) == (
        "dark red", "a", ["option1", "option2"])  # fmt: skip
    assert Task.objects.get(pk=second.pk).answers["type"]["value"] == "c"


def same_ring(ring: list[list[float]], expected: list[list[int]]) -> bool:
    """The same vertices in the same cyclic order, whatever vertex a tracer starts at or its direction."""
    points = [tuple(point) for point in ring]
    wanted = [tuple(point) for point in expected]
    if len(points) != len(wanted) or wanted[0] not in points:
        return False
    start = points.index(wanted[0])
    rotated = points[start:] + points[:start]
    return rotated == wanted or [rotated[0], *rotated[:0:-1]] == wanted


def test_imported_mask_labels_are_what_the_labeling_page_reads(
    ango_project, admin_user, make_task, media_storage, mask_server, loopback_allowed
):
    task = make_task(ango_project, external_id="img_1", width=W, height=H)
    mask_server["files"]["/1.png"] = png(scene())
    job = run(ango_project, csv_text(f"img_1,,A,,{mask_server['base']}/1.png"), config(mask_column="Mask"))
    import_job_write(job_id=job.id)
    client = Client()
    client.force_login(admin_user)

    body = client.get(f"/api/tasks/{task.pk}/annotation").json()

    assert body["answers"] == {"type": {"value": "a"}}
    labels = {label["key"]: label for label in body["labels"]}
    kinds = {key: (label["type"], label["source"]) for key, label in labels.items()}
    assert kinds == {
        "car": ("segmentation", "import"),
        "person": ("segmentation", "import"),
        "lane": ("polygon", "import"),
    }
    shell, hole = labels["car"]["points"]
    assert same_ring(shell, [[4, 4], [4, 23], [23, 23], [23, 4]])
    assert same_ring(hole, [[9, 10], [10, 9], [17, 9], [18, 10], [18, 17], [17, 18], [10, 18], [9, 17]])
    (person,) = labels["person"]["points"]
    assert same_ring(person, [[40, 4], [40, 13], [49, 13], [49, 4]])
    assert labels["lane"]["points"][0] == [30, 30]


def test_overwrite_replaces_the_labels_so_a_rerun_gives_the_same_result(
    ango_project, make_task, media_storage, mask_server, loopback_allowed
):
    task = make_task(ango_project, external_id="img_1", width=W, height=H)
    mask_server["files"]["/1.png"] = png(scene())
    content = csv_text(f"img_1,,B,,{mask_server['base']}/1.png")

    for _ in range(2):
        job = run(ango_project, content, config(mask_column="Mask"))
        import_job_write(job_id=job.id)
    assert Label.objects.filter(task=task).count() == 3

    job = run(ango_project, content, config(mask_column="Mask", overwrite=False))
    import_job_write(job_id=job.id)
    assert Label.objects.filter(task=task).count() == 6


def test_the_resolver_sees_tool_colours(ango_project):
    index = label_config_index(configuration=ango_project.label_configuration)

    assert index.by_schema_id["f104b6b9cdb84966812b002"].color == "#f44336"


# --- the upload page and the API -----------------------------------------------------------------


def test_the_upload_page_takes_the_config_as_options_json(ango_project, admin_user, media_storage):
    client = Client()
    client.force_login(admin_user)
    upload = SimpleUploadedFile("labels.csv", csv_text("img_1,red,A,,"))

    response = client.post(
        f"/projects/{ango_project.pk}/imports",
        {"file": upload, "format": "ango_csv", "match_by": "", "options": json.dumps(config(overwrite=False))},
    )

    job = ango_project.import_jobs.get()
    assert response.status_code == 302
    assert (job.format, job.options["match_by"], job.options["overwrite"]) == ("ango_csv", "external_id", False)
    assert job.options["classification_schema_ids"] == SEED_CONFIG["classification_schema_ids"]


def test_the_upload_page_names_a_config_error_and_writes_no_job(ango_project, admin_user, media_storage):
    client = Client()
    client.force_login(admin_user)

    for options in ("{not json", json.dumps(config(segmentation_mode="blobs"))):
        upload = SimpleUploadedFile("labels.csv", csv_text("img_1,red,A,,"))
        response = client.post(
            f"/projects/{ango_project.pk}/imports",
            {"file": upload, "format": "ango_csv", "options": options},
            follow=True,
        )
        html = response.content.decode()
        assert "not valid JSON" in html or "segmentation_mode" in html
    assert not ango_project.import_jobs.exists()


def test_the_api_takes_the_config_as_options(ango_project, admin_user, media_storage):
    client = Client()
    client.force_login(admin_user)
    upload = SimpleUploadedFile("labels.csv", csv_text("img_1,red,A,,"))

    response = client.post(
        f"/api/projects/{ango_project.pk}/imports",
        {"file": upload, "format": "ango_csv", "options": json.dumps(config(classification_schema_ids=[]))},
    )

    assert response.status_code == 400
    assert [d["path"] for d in response.json()["error"]["details"]] == ["options.classification_schema_ids"]


def test_masks_inside_the_uploaded_zip_are_read_by_their_path(ango_project, make_task, media_storage):
    import zipfile

    task = make_task(ango_project, external_id="img_1", width=W, height=H)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels/tasks.csv", csv_text("img_1,,,,masks/img_1.png"))
        archive.writestr("masks/img_1.png", png(scene()))
    options = config(mask_column="Mask", storage_id="")

    job = import_job_create(
        project=ango_project, user=None, file=buffer.getvalue(), file_name="batch.zip", format="ango_csv",
        options=options,
    )  # fmt: skip
    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.VALIDATED, errors_of(job)
    assert job.file_name == "batch.zip/labels/tasks.csv"
    job = import_job_write(job_id=job.id)
    assert job.status == ImportStatus.SUCCEEDED
    kinds = sorted(Label.objects.filter(task=task).values_list("entry__key", flat=True))
    assert kinds == ["car", "lane", "person"]


def test_a_mask_path_missing_from_the_zip_is_an_error_at_its_cell(ango_project, make_task, media_storage):
    import zipfile

    make_task(ango_project, external_id="img_1", width=W, height=H)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tasks.csv", csv_text("img_1,,,,masks/nowhere.png"))

    job = import_job_create(
        project=ango_project, user=None, file=buffer.getvalue(), file_name="batch.zip", format="ango_csv",
        options=config(mask_column="Mask", storage_id=""),
    )  # fmt: skip
    job = import_job_validate(job_id=job.id)

    assert job.status == ImportStatus.FAILED
    (error,) = job.errors.all()
    assert error.location == 'row 2, column "Mask"'
    assert "no file 'masks/nowhere.png'" in error.message
