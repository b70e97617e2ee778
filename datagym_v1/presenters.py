"""Our rows in DataGym's JSON shapes (section 2.3, 3.4, 6 of the reference)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from labeling.models import Task
from labelsite.errors import ErrorDetail
from projects.models import Dataset, LabelConfiguration, Media, MediaSource, Project
from projects.services import UrlResult, UrlStatus

MEDIA_SOURCE_TYPES: dict[str, str] = {
    MediaSource.LOCAL.value: "LOCAL",
    MediaSource.URL.value: "SHAREABLE_LINK",
    MediaSource.S3.value: "AWS_S3",
}
#: The status names of DataGym's first API, for scripts written against the old docs.
_LEGACY_URL_STATUSES = {UrlStatus.UNSUPPORTED_MIME_TYPE: "UNSUPPORTED_FORMAT"}


def epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def dataset_summary(dataset: Dataset) -> dict[str, Any]:
    media_count = getattr(dataset, "media_count", 0)
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "shortDescription": dataset.short_description or None,
        "timestamp": epoch_ms(dataset.created_at),
        "owner": str(dataset.organization_id),
        "mediaCount": media_count,
        "imagesCount": media_count,
        "projectCount": getattr(dataset, "project_count", 0),
        "mediaType": dataset.media_type,
    }


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "shortDescription": project.short_description or None,
        "description": project.description or None,
        "timestamp": epoch_ms(project.created_at),
        "labelConfigurationId": str(project.label_configuration.id),
        "labelIterationId": str(project.label_iteration.id),
        "owner": str(project.organization_id),
        "mediaType": project.media_type,
        "datasets": [dataset_summary(dataset) for dataset in project.datasets.all()],
    }


def media_summary(media: Media) -> dict[str, Any]:
    return {
        "id": str(media.id),
        "timestamp": epoch_ms(media.created_at),
        "mediaSourceType": MEDIA_SOURCE_TYPES.get(media.source, media.source),
        "mediaName": media.name,
    }


def dataset_json(dataset: Dataset) -> dict[str, Any]:
    body = dataset_summary(dataset)
    body["media"] = [media_summary(media) for media in getattr(dataset, "live_media", [])]
    return body


def uploaded_media_json(media: Media) -> dict[str, Any]:
    """DataGym's `LocalImageViewModel`."""
    return {
        **media_summary(media),
        "valid": True,
        "reason": None,
        "url": None,
        "width": media.width,
        "height": media.height,
    }


def url_result_json(result: UrlResult) -> dict[str, Any]:
    """One URL's outcome, with the media names of 0.28 and the image names of the old docs."""
    media_id = str(result.media.id) if result.media is not None else None
    media_name = result.media.name if result.media is not None else None
    answer = {
        "internal_media_ID": media_id,
        "external_media_ID": media_name,
        "imageUrl": result.url,
        "mediaUploadStatus": result.status,
        "internal_image_ID": media_id,
        "external_image_ID": media_name,
        "imageUploadStatus": _LEGACY_URL_STATUSES.get(result.status, result.status),
    }
    if result.message:
        # Not DataGym's: why a URL FAILED (a private address, ...). The client returns the dicts untouched.
        answer["message"] = result.message
    return answer


def configuration_json(
    configuration: LabelConfiguration, *, entries: list[dict[str, Any]], state_counts: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": str(configuration.id),
        "projectId": str(configuration.project_id),
        "numberOfCompletedTasks": state_counts.get("completed", 0),
        "numberOfReviewedTasks": state_counts.get("reviewed", 0),
        "entries": entries,
    }


def task_json(task: Task) -> dict[str, Any]:
    """DataGym's `LabelTaskViewModel`."""
    return {
        "taskId": str(task.id),
        "projectId": str(task.project_id),
        "projectName": task.project.name,
        "labelTaskState": task.state.upper(),
        "labelTaskType": "DEFAULT",
        "preLabelState": None,
        "mediaId": str(task.media_id),
        "mediaName": task.media.name,
        "labeler": str(task.assignee_id) if task.assignee_id else None,
        "iterationId": str(task.project.label_iteration.id),
        "reviewComment": None,
        "benchmark": False,
        "hasJsonUpload": task.has_import,
        "iterationRun": 0,
    }


def schema_errors_text(details: Sequence[ErrorDetail]) -> str:
    """DataGym's `errorMessages` for schema violations (section 4.4).

    One block per JSON pointer, the pointers sorted by length and then alphabetically;
    `Either: ` introduces a place with several messages.
    """
    by_path: dict[str, list[str]] = {}
    for item in details:
        messages = by_path.setdefault(item.path or "#", [])
        if item.message not in messages:
            messages.append(item.message)
    text = f"Schema validation failed with {len(by_path)} error(s)\n\n"
    for path in sorted(by_path, key=lambda p: (len(p), p)):
        messages = by_path[path]
        text += path + "\n" + ("Either: \n" if len(messages) > 1 else "") + "\n".join(messages) + "\n\n"
    return text


def prediction_job_json(job_id: Any, *, url: str) -> dict[str, Any]:
    """The answer to a prediction import handed to a worker (a body over the inline cap).

    DataGym's own answer, `{"errorMessages": ""}` (nothing found wrong so far), and where to
    follow the job: its id and its URL in the native API (`Authorization: Token`), which
    reports its progress and, if the file has errors, every one of them.
    """
    return {"errorMessages": "", "importJobId": str(job_id), "importJobUrl": url}
