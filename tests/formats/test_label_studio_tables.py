"""Label Studio CSV, TSV and TXT tasks, and the media they create."""

from __future__ import annotations

import pytest

from formats import format_detect, format_get, format_list
from formats.media_rows import MediaRow
from formats.reading import FileError
from imports.media_create import media_rows_create, media_rows_dataset
from labeling.models import Task
from projects.models import Media
from tests.factories import DatasetFactory, MediaFactory
from tests.formats.conftest import read_all

CSV = format_get(name="label_studio_csv")
TXT = format_get(name="label_studio_txt")


def test_csv_tsv_and_txt_are_in_the_registry_and_create_media():
    assert CSV in format_list()
    assert TXT in format_list()
    assert CSV.creates_media
    assert TXT.creates_media
    assert format_detect(file_name="tasks.tsv") is CSV
    assert format_detect(file_name="tasks.txt") is TXT


@pytest.mark.parametrize(
    "content",
    [
        "image,site\nhttps://h/a.jpg,north\nhttps://h/b.jpg,south\n",
        "image;site\nhttps://h/a.jpg;north\r\nhttps://h/b.jpg;south",
        "image\tsite\nhttps://h/a.jpg\tnorth\n\nhttps://h/b.jpg\tsouth\n",
        "\ufeffimage,site\nhttps://h/a.jpg,north\nhttps://h/b.jpg,south\n",
    ],
    ids=["comma", "semicolon", "tab", "bom"],
)
def test_the_delimiter_is_sniffed_and_columns_become_data_keys(content):
    items = read_all(CSV, content)

    assert [item.data for item in items] == [
        {"image": "https://h/a.jpg", "site": "north"},
        {"image": "https://h/b.jpg", "site": "south"},
    ]
    assert items[1].location.startswith("line ")


def test_a_row_names_its_image_media_and_keeps_the_other_columns_as_metadata():
    converted = CSV.convert_item({"site": "north", "url": "https://h/p/a.jpg"}, None, index=0, match_by="name")

    assert converted.errors == []
    assert converted.annotation.shapes == []
    assert (converted.reference.name, converted.new_media.metadata) == ("a.jpg", {"site": "north"})


def test_csv_errors_name_the_line():
    with pytest.raises(FileError) as short_row:
        read_all(CSV, "image,site\nhttps://h/a.jpg\n")
    with pytest.raises(FileError) as repeated:
        read_all(CSV, "image,image\nx,y\n")
    with pytest.raises(FileError) as empty:
        read_all(CSV, "\n\n")
    missing = CSV.convert_item({"site": "north"}, None, index=3, match_by="name")

    assert (short_row.value.detail.path, short_row.value.detail.code) == ("line 2", "wrong_cell_count")
    assert repeated.value.detail.code == "bad_header"
    assert empty.value.detail.code == "empty_file"
    assert missing.errors[0].code == "missing_image"


def test_txt_is_one_task_per_line_under_the_image_field():
    items = read_all(TXT, "https://h/a.jpg\n\nhttps://h/b.jpg", image_field="photo")

    assert [(i.location, i.data) for i in items] == [
        ("line 1", {"photo": "https://h/a.jpg"}),
        ("line 3", {"photo": "https://h/b.jpg"}),
    ]


def test_the_example_files_read_cleanly():
    from pathlib import Path

    import formats

    examples = Path(formats.__file__).parent / "examples"
    csv_items = read_all(CSV, (examples / "label_studio_csv.csv").read_bytes())
    txt_items = read_all(TXT, (examples / "label_studio_txt.txt").read_bytes())

    assert csv_items[1].data["weather"] == "rain; light"
    assert len(txt_items) == 2


@pytest.mark.django_db
def test_media_rows_create_url_media_with_tasks_and_reuse_existing_ones(project):
    dataset = DatasetFactory(organization=project.organization)
    dataset.projects.add(project)
    existing = MediaFactory(dataset=dataset, name="old.jpg", url="https://h/old.jpg")
    rows = [
        MediaRow(location="/0", url="https://h/new.png", name="new.png", metadata={"site": "north"}),
        MediaRow(location="/1", url="https://h/old.jpg", name="old.jpg"),
        MediaRow(location="/2", url="https://h/new.png", name="new.png"),
    ]

    outcomes = media_rows_create(project=project, dataset=dataset, rows=rows)

    assert [o.created for o in outcomes] == [True, False, False]
    assert outcomes[1].media_id == existing.id
    assert outcomes[0].media_id == outcomes[2].media_id
    created = Media.objects.get(pk=outcomes[0].media_id)
    assert (created.source, created.mime_type, created.metadata) == ("URL", "image/png", {"site": "north"})
    assert all(Task.objects.filter(pk=o.task_id, project=project).exists() for o in outcomes)


@pytest.mark.django_db
def test_a_project_without_a_dataset_gets_one_for_imported_media(project):
    dataset = media_rows_dataset(project=project)

    assert dataset.name == f"{project.name} imports"
    assert media_rows_dataset(project=project) == dataset
