"""Projects, datasets, media and tasks of the DataGym v1 API: success and error bodies."""

from __future__ import annotations

import pytest

from labeling.models import Task, TaskState
from projects.models import Media, MediaSource
from tests.datagym_v1.conftest import assert_error, image_bytes
from tests.factories import DatasetFactory, MediaFactory, TaskFactory

pytestmark = pytest.mark.django_db


# --- projects -----------------------------------------------------------------------------


def test_project_list_has_the_fields_the_client_reads(api, project, connected):
    MediaFactory(dataset=connected)
    (item,) = api.get("/api/v1/project").json()
    assert item["id"] == str(project.id)
    assert item["labelConfigurationId"] == str(project.label_configuration.id)
    assert item["labelIterationId"] == str(project.label_iteration.id)
    assert item["owner"] == str(project.organization_id)
    assert item["mediaType"] == "IMAGE"
    assert isinstance(item["timestamp"], int)
    assert item["shortDescription"] is None
    (dataset,) = item["datasets"]
    assert dataset["id"] == str(connected.id)
    assert dataset["mediaCount"] == 1
    assert dataset["projectCount"] == 1
    assert set(dataset) >= {"id", "name", "shortDescription", "timestamp", "owner", "mediaType"}


def test_project_list_answers_head(api, project):
    response = api.head("/api/v1/project")
    assert response.status_code == 200


def test_project_list_shows_only_the_token_organisations_projects(api, project, foreign_project):
    assert [p["id"] for p in api.get("/api/v1/project").json()] == [str(project.id)]


# --- datasets -----------------------------------------------------------------------------


def test_dataset_list_includes_live_media_only(api, dataset):
    kept = MediaFactory(dataset=dataset, name="kept.jpg")
    MediaFactory(dataset=dataset, name="gone.jpg", deleted_at="2024-01-01T00:00:00Z")
    (item,) = api.get("/api/v1/dataset").json()
    assert item["media"] == [
        {
            "id": str(kept.id),
            "timestamp": int(kept.created_at.timestamp() * 1000),
            "mediaSourceType": "SHAREABLE_LINK",
            "mediaName": "kept.jpg",
        }
    ]


def test_dataset_get_and_its_404(api, dataset):
    assert api.get(f"/api/v1/dataset/{dataset.id}").json()["name"] == "Dataset_One"
    dataset.deleted_at = dataset.created_at
    dataset.save()
    assert_error(api.get(f"/api/v1/dataset/{dataset.id}"), 404, "ex_notfound", ["dataset", "id", str(dataset.id)])


def test_dataset_create_answers_the_new_dataset(api, organization):
    response = api.post("/api/v1/dataset", {"name": "New data_1", "shortDescription": "some - text"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "New data_1"
    assert body["shortDescription"] == "some - text"
    assert body["media"] == []
    assert body["projectCount"] == 0
    assert body["mediaType"] == "IMAGE"
    assert body["owner"] == str(organization.id)


def test_dataset_create_rejects_a_hyphen_and_a_long_name_with_bean_validation_details(api):
    body = assert_error(api.post("/api/v1/dataset", {"name": "a-b"}, format="json"), 400, "ex_validation", [])
    assert body["code"] == 0
    assert body["msg"] == "Validation error."
    assert body["details"] == [
        {"name": "Name", "key": "ex_pattern", "params": ["Name", "[]", "^[a-zA-Z0-9_ ]{1,128}$"]}
    ]
    body = assert_error(api.post("/api/v1/dataset", {"name": "x" * 129}, format="json"), 400, "ex_validation")
    assert {"name": "Name", "key": "ex_size", "params": ["Name", "128", "1"]} in body["details"]
    body = assert_error(api.post("/api/v1/dataset", {}, format="json"), 400, "ex_validation")
    assert body["details"] == [{"name": "Name", "key": "ex_notnull", "params": ["Name"]}]


def test_dataset_create_with_a_taken_name_answers_412(api, dataset):
    assert_error(
        api.post("/api/v1/dataset", {"name": "Dataset_One"}, format="json"),
        412,
        "ex_alreadyexists",
        ["Dataset", "name", "Dataset_One"],
    )


def test_dataset_create_with_unreadable_body_answers_400_shape(api):
    assert_error(api.post("/api/v1/dataset", b"{nope", content_type="application/json"), 400, "ex_validation")


# --- connect and disconnect ---------------------------------------------------------------


def test_connect_creates_tasks_and_a_second_connect_answers_412_already_contains(api, project, dataset):
    MediaFactory(dataset=dataset)
    response = api.post(f"/api/v1/project/{project.id}/dataset/{dataset.id}")
    assert response.status_code == 200
    assert response.content == b""
    assert Task.objects.filter(project=project).count() == 1
    assert_error(
        api.post(f"/api/v1/project/{project.id}/dataset/{dataset.id}"),
        412,
        "ex_already_contains",
        ["Project", "Dataset"],
    )


def test_connect_unknown_dataset_answers_404(api, project):
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(
        api.post(f"/api/v1/project/{project.id}/dataset/{missing}"), 404, "ex_notfound", ["Dataset", "id", missing]
    )


def test_disconnect_and_disconnect_again(api, project, connected):
    response = api.delete(f"/api/v1/project/{project.id}/dataset/{connected.id}/remove")
    assert response.status_code == 200
    assert not connected.projects.exists()
    assert_error(
        api.delete(f"/api/v1/project/{project.id}/dataset/{connected.id}/remove"),
        500,
        "ex_gen_does_not_contain",
        ["Project", "Dataset"],
    )


# --- URL import ---------------------------------------------------------------------------


def test_url_import_reports_every_status_with_media_and_image_key_names(api, project, connected):
    MediaFactory(dataset=connected, url="https://img.example.com/old.jpg", name="old.jpg")
    urls = [
        "https://img.example.com/a/new.png",
        "https://img.example.com/OLD.jpg",
        "https://img.example.com/a.png?x=1",
        "not a url",
    ]
    response = api.post(f"/api/v1/media/{connected.id}/url", urls, format="json")
    assert response.status_code == 200
    by_url = {item["imageUrl"]: item for item in response.json()}
    success = by_url["https://img.example.com/a/new.png"]
    media = Media.objects.get(url="https://img.example.com/a/new.png")
    assert success == {
        "internal_media_ID": str(media.id),
        "external_media_ID": "new.png",
        "imageUrl": "https://img.example.com/a/new.png",
        "mediaUploadStatus": "SUCCESS",
        "internal_image_ID": str(media.id),
        "external_image_ID": "new.png",
        "imageUploadStatus": "SUCCESS",
    }
    assert by_url["https://img.example.com/OLD.jpg"]["mediaUploadStatus"] == "DUPLICATE"
    assert by_url["https://img.example.com/OLD.jpg"]["internal_media_ID"] is None
    assert by_url["https://img.example.com/a.png?x=1"]["mediaUploadStatus"] == "UNSUPPORTED_MIME_TYPE"
    assert by_url["https://img.example.com/a.png?x=1"]["imageUploadStatus"] == "UNSUPPORTED_FORMAT"
    assert by_url["not a url"]["mediaUploadStatus"] == "FAILED"
    assert Task.objects.filter(project=project, media=media).exists()


def test_url_import_without_body_answers_400_shape(api, dataset):
    assert_error(api.post(f"/api/v1/media/{dataset.id}/url"), 400, "ex_validation")


def test_image_paths_are_aliases_of_media_paths(api, dataset):
    response = api.post(f"/api/v1/image/{dataset.id}/url", ["https://x.example.com/a.jpg"], format="json")
    assert response.json()[0]["mediaUploadStatus"] == "SUCCESS"


# --- raw upload, download, delete ---------------------------------------------------------


def _upload(api, dataset_id, content, name="photo.png", **headers):
    if name is not None:
        headers["HTTP_X_FILENAME"] = name
    return api.generic("POST", f"/api/v1/media/{dataset_id}/file", content, content_type="text/plain", **headers)


def test_raw_upload_sniffs_the_content_and_answers_the_local_image(api, project, connected, media_storage):
    response = _upload(api, connected.id, image_bytes("JPEG", (5, 7)), name="holiday.png")
    assert response.status_code == 200, response.content
    body = response.json()
    media = Media.objects.get(pk=body["id"])
    assert body == {
        "id": str(media.id),
        "timestamp": int(media.created_at.timestamp() * 1000),
        "mediaSourceType": "LOCAL",
        "mediaName": "holiday.png",
        "valid": True,
        "reason": None,
        "url": None,
        "width": 5,
        "height": 7,
    }
    assert media.mime_type == "image/jpeg"
    assert Task.objects.filter(project=project, media=media).exists()


def test_raw_upload_of_a_gif_answers_ex_val_bin_mime(api, dataset, media_storage):
    body = assert_error(_upload(api, dataset.id, image_bytes("GIF")), 400, "ex_validation", [])
    assert body["details"] == [
        {"name": "data", "key": "ex_val_bin_mime", "params": ["image/gif", "[image/jpeg, image/jpg, image/png]"]}
    ]


def test_raw_upload_of_nothing_answers_ex_val_bin_mime(api, dataset, media_storage):
    body = assert_error(_upload(api, dataset.id, b""), 400, "ex_validation")
    assert body["details"][0]["key"] == "ex_val_bin_mime"


def test_raw_upload_without_filename_answers_ex_val_empty(api, dataset, media_storage):
    body = assert_error(_upload(api, dataset.id, image_bytes(), name=None), 400, "ex_validation", [])
    assert body["details"] == [{"name": "Header: X-filename", "key": "ex_val_empty", "params": ["Header: X-filename"]}]


def test_raw_upload_of_a_taken_name_answers_412(api, dataset, media_storage):
    assert _upload(api, dataset.id, image_bytes()).status_code == 200
    assert_error(_upload(api, dataset.id, image_bytes()), 412, "ex_alreadyexists", ["Image", "name", "photo.png"])


def test_download_sends_bytes_type_length_and_disposition(api, dataset, media_storage):
    content = image_bytes()
    media_id = _upload(api, dataset.id, content, name="my photo.png").json()["id"]
    response = api.get(f"/api/v1/media/{media_id}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(content))
    assert response["Content-Disposition"] == 'attachment; filename="my%20photo.png"'
    inline = api.get(f"/api/v1/media/{media_id}?dl=false")
    assert "Content-Disposition" not in inline


def test_download_of_a_url_media_redirects_to_its_url(api, dataset):
    media = MediaFactory(dataset=dataset, source=MediaSource.URL, url="https://img.example.com/x.jpg")
    response = api.get(f"/api/v1/media/{media.id}")
    assert response.status_code == 302
    assert response["Location"] == "https://img.example.com/x.jpg"


def test_delete_is_soft_and_a_second_delete_answers_ex_gen_image_delete(api, dataset):
    media = MediaFactory(dataset=dataset)
    response = api.delete(f"/api/v1/media/{media.id}")
    assert response.status_code == 200
    media.refresh_from_db()
    assert media.deleted_at is not None
    assert_error(api.delete(f"/api/v1/media/{media.id}"), 500, "ex_gen_image_delete", [str(media.id)])
    assert_error(api.get(f"/api/v1/media/{media.id}"), 404, "ex_notfound", ["media", "id", str(media.id)])


# --- tasks --------------------------------------------------------------------------------


def test_task_list_filters_by_state_and_search(api, project, connected):
    one = TaskFactory(project=project, media=MediaFactory(dataset=connected, name="cat_1.jpg"))
    TaskFactory(project=project, media=MediaFactory(dataset=connected, name="dog_1.jpg"), state=TaskState.COMPLETED)
    listed = api.get(f"/api/v1/task/{project.id}/list?state=BACKLOG").json()
    assert [t["taskId"] for t in listed] == [str(one.id)]
    assert listed[0]["labelTaskState"] == "BACKLOG"
    assert listed[0]["mediaName"] == "cat_1.jpg"
    assert listed[0]["iterationId"] == str(project.label_iteration.id)
    assert [t["mediaName"] for t in api.get(f"/api/v1/task/{project.id}/list?search=dog").json()] == ["dog_1.jpg"]
    assert_error(api.get(f"/api/v1/task/{project.id}/list?search=a;b"), 400, "ex_validation")


def test_task_get_skip_and_complete(api, project, connected):
    task = TaskFactory(project=project, media=MediaFactory(dataset=connected))
    assert api.get(f"/api/v1/task/{task.id}").json()["taskId"] == str(task.id)
    assert api.put(f"/api/v1/task/{task.id}/skipTask").json()["labelTaskState"] == "SKIPPED"
    other = TaskFactory(project=project, media=MediaFactory(dataset=connected))
    response = api.put(f"/api/v1/task/{other.id}/completeTask", {"lastChangedConfig": 0}, format="json")
    assert response.json() == {"hasLabelConfigChanged": True, "currentTaskId": str(other.id)}
    response = api.put(f"/api/v1/task/{other.id}/completeTask", {}, format="json")
    assert response.json() == {"hasLabelConfigChanged": False, "currentTaskId": str(other.id)}
    other.refresh_from_db()
    assert other.state == TaskState.COMPLETED


def test_task_of_another_organisation_answers_404(api, foreign_project):
    task = TaskFactory(project=foreign_project)
    assert_error(api.get(f"/api/v1/task/{task.id}"), 404, "ex_notfound", ["Task", "id", str(task.id)])
    assert_error(api.put(f"/api/v1/task/{task.id}/skipTask"), 404, "ex_notfound")


def test_reviewed_task_cannot_be_skipped(api, project, connected):
    task = TaskFactory(project=project, media=MediaFactory(dataset=connected), state=TaskState.REVIEWED)
    assert_error(api.put(f"/api/v1/task/{task.id}/skipTask"), 500, "ex_gen_task_state", ["REVIEWED"])


def test_dataset_factory_of_other_org_is_not_listed(api, other_organization):
    DatasetFactory(organization=other_organization)
    assert api.get("/api/v1/dataset").json() == []


def test_dataset_create_refuses_a_reserved_name_with_datagyms_forbidden_keyword_error(api):
    response = api.post("/api/v1/dataset", {"name": "Dummy_Dataset_One"}, format="json")
    body = assert_error(response, 500, "ex_gen_forbidden_keyword", ["Dummy_Dataset_One"])
    assert body["msg"] == '"Dummy_Dataset_One" is a forbidden keyword.'
