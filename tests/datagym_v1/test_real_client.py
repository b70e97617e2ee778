"""The published `datagym` 0.7.2 client, unchanged, against a live Labelsite server.

Install (see requirements-dev.txt): `pip install --no-deps datagym==0.7.2` and then
`pip install opencv-python-headless numpy` (datagym's own pins do not import on Python 3.11).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from datagym import Client
from datagym.endpoints import Endpoint
from datagym.exceptions.exceptions import APIException, ClientException, InvalidTokenException
from datagym.models import Dataset, Image, Project
from datagym.models.label_config import LabelConfig

from labeling.models import Task, TaskState
from projects.models import LabelEntry, Media
from tests.datagym_v1.conftest import image_bytes
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, token) -> Iterator[Client]:
    # The base URL is a class attribute of the client, shared by the whole process.
    previous = Endpoint.BASE_PATH
    yield Client(api_key=token, base_url=live_server.url + "/")
    Endpoint.BASE_PATH = previous


def test_client_reads_projects_and_datasets(client, project, connected):
    projects = client.get_projects()
    assert [p.id for p in projects] == [str(project.id)]
    (found,) = projects
    assert isinstance(found, Project)
    assert found.label_config_id == str(project.label_configuration.id)
    assert found.label_iteration_id == str(project.label_iteration.id)
    assert [d.id for d in found.datasets] == [str(connected.id)]
    assert client.get_project_by_name(project.name).id == str(project.id)
    assert client.get_project_by_name("no such project") is None
    assert [d.name for d in client.get_datasets()] == ["Dataset_One"]
    assert client.get_dataset_by_name("Dataset_One").id == str(connected.id)
    assert client.get_dataset_by_name("nothing") is None


def test_client_creates_connects_and_disconnects_datasets(client, project):
    created = client.create_dataset("Client_set", "made by the client")
    assert isinstance(created, Dataset)
    assert created.short_description == "made by the client"
    # A taken name is a 412 warning; the client then returns the existing dataset.
    again = client.create_dataset("Client_set")
    assert again.id == created.id
    assert client.add_dataset(created.id, str(project.id)) is True
    assert client.add_dataset(created.id, str(project.id)) is True  # already connected: a warning
    assert project.datasets.filter(pk=created.id).exists()
    assert client.remove_dataset(created.id, str(project.id)) is True
    assert not project.datasets.filter(pk=created.id).exists()


def test_client_raises_client_exception_on_a_4xx(client):
    with pytest.raises(ClientException):
        client.create_dataset("not-allowed-hyphen")


def test_client_token_check(client, live_server):
    assert client._is_token_valid() is True
    bad = Client(api_key="wrong-token", base_url=live_server.url + "/")
    with pytest.raises(InvalidTokenException):
        bad._is_token_valid()


def test_client_media_round_trip(client, organization, media_storage, tmp_path):
    dataset = DatasetFactory(organization=organization, name="Media_set")
    results = client.create_images_from_urls(
        str(dataset.id), ["https://img.example.com/one.jpg", "https://img.example.com/one.jpg", "ftp:/x"]
    )
    assert sorted(r["mediaUploadStatus"] for r in results) == ["FAILED", "SUCCESS"]
    path = tmp_path / "photo.png"
    content = image_bytes("PNG", (6, 4))
    path.write_bytes(content)
    image = client.upload_image(str(dataset.id), str(path))
    assert isinstance(image, Image)
    assert image.image_name == "photo.png"
    assert image.image_type == "LOCAL"
    assert client.upload_image(str(dataset.id), str(path)) is None  # duplicate name: a warning
    assert client.download_image_bytes(image) == content
    out = tmp_path / "out"
    out.mkdir()
    client.download_image(image, str(out))
    assert (out / "photo.png").read_bytes() == content
    assert client.delete_image(image) is True
    assert Media.objects.get(pk=image.id).deleted_at is not None
    with pytest.raises(APIException):
        client.delete_image(image)  # already deleted: 500 ex_gen_image_delete


def _label_config() -> list:
    config = LabelConfig()
    car = config.add_polygon("car", "Car", color="red", shortcut=1)
    car.add_select("car_type", "Type", {"suv": "SUV", "van": "Van"}, required=True)
    config.add_rectangle("bus", "Bus", shortcut=2)
    config.add_select("weather", "Weather", {"sunny": "Sunny", "rainy": "Rainy"})
    config.add_freetext("comment", "Comment", max_length=10)
    return config.toJson()


def test_client_uploads_a_label_config_with_the_double_slash_paths(client, project):
    raw = client.upload_label_config(str(project.label_configuration.id), _label_config())
    body = json.loads(raw)
    assert [e["entryKey"] for e in body["entries"]] == ["car", "bus", "weather", "comment"]
    assert body["entries"][0]["children"][0]["entryKey"] == "car_type"
    # Uploading again works: the client clears first.
    client.upload_label_config(str(project.label_configuration.id), _label_config()[:1])
    assert LabelEntry.objects.filter(configuration__project=project, parent=None).count() == 1


def test_client_imports_labels_and_exports_them(client, project, connected, token):
    client.upload_label_config(str(project.label_configuration.id), _label_config())
    media = Media.objects.create(
        organization=project.organization, dataset=connected, name="street.jpg", url="https://img.example.com/s.jpg"
    )
    Task.objects.create(project=project, media=media)
    item = {
        "internal_media_ID": str(media.id),
        "keepData": False,
        "global_classifications": {"weather": ["sunny"]},
        "labels": {
            "car": [
                {
                    "polygon": [{"x": 1, "y": 2}, {"x": 5.5, "y": "6"}, {"x": 9, "y": 2}],
                    "classifications": {"car_type": ["van"]},
                }
            ],
            "bus": [{"rectangle": [{"x": 10, "y": 20, "w": 30, "h": 40}]}],
        },
    }
    assert client.import_label_data(str(project.id), [item]) == {"errorMessages": ""}

    broken = json.loads(json.dumps(item))
    broken["labels"]["car"][0]["polygon"] = broken["labels"]["car"][0]["polygon"][:2]
    result = client.import_label_data(str(project.id), [broken])
    assert result["errorMessages"].startswith("Schema validation failed with 1 error(s)\n\n#/0/labels/car/0/polygon\n")

    unknown = {"internal_media_ID": str(media.id), "labels": {"truck": [{"point": [{"x": 1, "y": 1}]}]}}
    with pytest.raises(APIException):
        client.import_label_data(str(project.id), [unknown])

    assert client.export_labels(str(project.id)) == []  # nothing finished yet
    Task.objects.filter(media=media).update(state=TaskState.COMPLETED)
    header, row = client.export_labels(str(project.id))
    assert {"class_name": "weather", "classification_type": "radio"} in header["label_classes"]
    assert row["internal_media_ID"] == str(media.id)
    assert row["global_classifications"]["weather"] == ["sunny"]
    assert row["labels"]["car"][0]["polygon"] == [{"x": 1, "y": 2}, {"x": 5, "y": 6}, {"x": 9, "y": 2}]
    assert row["labels"]["car"][0]["classifications"] == {"car_type": ["van"]}
    assert row["labels"]["bus"][0]["rectangle"] == [{"x": 10, "y": 20, "w": 30, "h": 40}]

    url = client.export_labels_url(str(project.id))
    assert url.endswith(f"/api/v1/export/{project.id}?token={token}")
