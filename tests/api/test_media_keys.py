"""An admin gives a media its own external id and global key (PATCH /api/media/{id}), so that
label files of other tools that name images by them (Ango's `externalId`, Labelbox's `globalKey`)
match images uploaded here, not only media created by data-row imports."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Media
from tests.api.conftest import World, png_bytes
from tests.factories import DatasetFactory, MediaFactory


def test_an_admin_sets_a_media_external_id_and_global_key(world: World):
    response = world.client("admin").patch(
        f"/api/media/{world.media.id}", {"external_id": "asset-17", "global_key": "Streets/street.jpg"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert (response.json()["external_id"], response.json()["global_key"]) == ("asset-17", "Streets/street.jpg")
    world.media.refresh_from_db()
    assert (world.media.external_id, world.media.global_key) == ("asset-17", "Streets/street.jpg")


def test_a_field_left_out_is_unchanged_and_a_null_global_key_removes_it(world: World):
    Media.objects.filter(pk=world.media.pk).update(external_id="kept", global_key="gone")

    response = world.client("admin").patch(f"/api/media/{world.media.id}", {"global_key": None}, format="json")

    assert response.status_code == 200, response.json()
    world.media.refresh_from_db()
    assert (world.media.external_id, world.media.global_key) == ("kept", None)


def test_a_global_key_taken_in_the_organisation_in_another_case_answers_409_at_the_field(world: World):
    MediaFactory(dataset=world.spare_dataset, name="other.jpg", global_key="street-001")

    response = world.client("admin").patch(f"/api/media/{world.media.id}", {"global_key": "STREET-001"}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "global_key_taken"
    assert [(d["path"], d["code"]) for d in error["details"]] == [("global_key", "global_key_taken")]
    assert "other.jpg" in error["message"]
    world.media.refresh_from_db()
    assert world.media.global_key is None


def test_the_same_global_key_in_another_organisation_is_free(world: World):
    MediaFactory(dataset=DatasetFactory(organization=world.other_organization), global_key="street-001")

    response = world.client("admin").patch(f"/api/media/{world.media.id}", {"global_key": "street-001"}, format="json")

    assert response.status_code == 200, response.json()


def test_a_global_key_that_breaks_the_rules_answers_400_at_the_field(world: World):
    response = world.client("admin").patch(f"/api/media/{world.media.id}", {"global_key": " tab\tkey"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert [(d["path"], d["code"]) for d in error["details"]] == [("global_key", "invalid_global_key")]


def test_an_external_id_over_255_characters_answers_400_at_the_field(world: World):
    response = world.client("admin").patch(f"/api/media/{world.media.id}", {"external_id": "x" * 256}, format="json")

    assert response.status_code == 400
    assert [d["path"] for d in response.json()["error"]["details"]] == ["external_id"]


def test_an_ango_file_names_an_uploaded_image_by_the_external_id_given_to_it(
    world: World, media_storage, eager_worker, django_capture_on_commit_callbacks
):
    admin = world.client("admin")
    photo = SimpleUploadedFile("IMG_0042.png", png_bytes(), content_type="image/png")
    uploaded = admin.post(f"/api/datasets/{world.dataset.id}/media", {"file": [photo]}, format="multipart").json()
    media_id = uploaded["created"][0]["id"]
    assert admin.patch(f"/api/media/{media_id}", {"external_id": "ango-asset-42"}, format="json").status_code == 200
    car = world.project.label_configuration.entries.get(key="car")
    element = {"externalId": "ango-asset-42", "objects": [{"schemaId": car.schema_id, "bounding-box":
               {"x": 1, "y": 1, "width": 2, "height": 1}}]}  # fmt: skip

    labels = SimpleUploadedFile("ango.json", json.dumps([element]).encode(), content_type="application/json")
    with django_capture_on_commit_callbacks(execute=True):
        created = admin.post(
            f"/api/projects/{world.project.id}/imports",
            {
                "file": labels,
                "format": "ango",
                "options": json.dumps({"write_when_valid": True}),
            },
            format="multipart",
        )
    assert created.status_code == 201, created.json()
    job = admin.get(f"/api/imports/{created.json()['id']}").json()

    assert job["status"] == "succeeded", job["message"]
    assert job["counts"]["labels_written"] == 1


# --- a mapping file for a whole dataset: file name -> external id, global key ---------------


def upload_keys(world: World, name: str, content: bytes):
    return world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media/keys",
        {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")},
        format="multipart",
    )


def keys_of(world: World) -> dict[str, tuple[str, str | None]]:
    media = Media.objects.filter(dataset=world.dataset)
    return {m.name: (m.external_id, m.global_key) for m in media}


def test_a_csv_mapping_file_gives_the_dataset_images_their_external_ids_and_global_keys(world: World):
    MediaFactory(dataset=world.dataset, name="IMG_0042.jpg")
    csv = (
        b"\xef\xbb\xbfname,external_id,global_key\r\n"
        b"street.jpg,asset-1,streets/street.jpg\r\n"
        b"IMG_0042.jpg,asset-42,\r\n"
    )

    response = upload_keys(world, "keys.csv", csv)

    assert response.status_code == 200, response.json()
    assert response.json() == {"updated": 2}
    # An empty cell leaves the field as it is.
    assert keys_of(world) == {"street.jpg": ("asset-1", "streets/street.jpg"), "IMG_0042.jpg": ("asset-42", None)}


def test_a_json_mapping_file_takes_the_other_tools_spellings(world: World):
    content = json.dumps([{"name": "street.jpg", "externalId": "asset-1", "globalKey": "k-1"}]).encode()

    response = upload_keys(world, "keys.json", content)

    assert response.status_code == 200, response.json()
    assert keys_of(world) == {"street.jpg": ("asset-1", "k-1")}


def test_a_mapping_file_with_errors_writes_nothing_and_lists_each_error_at_its_line(world: World):
    MediaFactory(dataset=world.dataset, name="b.jpg")
    MediaFactory(dataset=world.spare_dataset, name="elsewhere.jpg", global_key="taken")
    csv = (
        b"name,external_id,global_key\n"
        b"street.jpg,asset-1,ok-key\n"
        b"missing.jpg,asset-2,\n"
        b"b.jpg,asset-3,TAKEN\n"
        b"street.jpg,asset-4,\n"
        b"b.jpg,,bad\tkey\n"
    )

    response = upload_keys(world, "keys.csv", csv)

    assert response.status_code == 400
    error = response.json()["error"]
    assert [(d["path"], d["code"]) for d in error["details"]] == [
        ("line 3, name", "unknown_media"),
        ("line 4, global_key", "global_key_taken"),
        ("line 5, name", "duplicate_name"),
        ("line 6, name", "duplicate_name"),
        ("line 6, global_key", "invalid_global_key"),
    ]
    assert keys_of(world) == {"street.jpg": ("", None), "b.jpg": ("", None)}


def test_a_csv_without_a_name_column_says_which_columns_to_give(world: World):
    response = upload_keys(world, "keys.csv", b"file,ext\nstreet.jpg,1\n")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"][0]["path"] == "line 1"
    assert '"name"' in error["message"]
    assert '"external_id"' in error["message"]


# --- the keys given with the upload itself -----------------------------------------------


def upload_with_keys(world: World, keys: object, *names: str):
    files = [SimpleUploadedFile(name, png_bytes(), content_type="image/png") for name in names]
    return world.client("admin").post(
        f"/api/datasets/{world.dataset.id}/media", {"file": files, "keys": json.dumps(keys)}, format="multipart"
    )


def test_an_upload_gives_each_image_its_external_id_and_global_key_by_file_name(world: World, media_storage):
    keys = {"a.png": {"external_id": "asset-a", "global_key": "key-a"}, "b.png": {"externalId": "asset-b"}}

    response = upload_with_keys(world, keys, "a.png", "b.png", "c.png")

    assert response.status_code == 201, response.json()
    created = {m["name"]: (m["external_id"], m["global_key"]) for m in response.json()["created"]}
    assert created == {"a.png": ("asset-a", "key-a"), "b.png": ("asset-b", None), "c.png": ("", None)}


def test_an_uploaded_image_whose_global_key_is_taken_fails_alone(world: World, media_storage):
    MediaFactory(dataset=world.spare_dataset, name="old.png", global_key="KEY-A")

    response = upload_with_keys(world, {"a.png": {"global_key": "key-a"}}, "a.png", "b.png")

    assert response.status_code == 201
    body = response.json()
    assert [m["name"] for m in body["created"]] == ["b.png"]
    assert body["failed"][0]["name"] == "a.png"
    assert body["failed"][0]["error"]["code"] == "global_key_taken"
    assert body["failed"][0]["error"]["details"][0]["path"] == "keys/a.png/global_key"


def test_keys_for_a_file_not_sent_or_a_bad_key_answer_400_before_anything_is_stored(world: World, media_storage):
    response = upload_with_keys(world, {"a.png": {"global_key": "bad\tkey"}, "zzz.png": {"external_id": "1"}}, "a.png")

    assert response.status_code == 400
    details = {(d["path"], d["code"]) for d in response.json()["error"]["details"]}
    assert details == {("keys/a.png/global_key", "invalid_global_key"), ("keys/zzz.png/name", "file_not_sent")}
    assert not Media.objects.filter(name="a.png").exists()
