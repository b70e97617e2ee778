"""Writes of the projects app: organisations, members, tokens, projects, datasets, media."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from labelsite.errors import AlreadyExists, Conflict, DomainError, ErrorDetail, NotFound, ValidationFailed
from projects import signals
from projects.label_config import label_config_replace
from projects.models import (
    ApiToken,
    Dataset,
    LabelConfiguration,
    LabelIteration,
    Media,
    MediaSource,
    Membership,
    Organization,
    Project,
    Role,
)

# --- organisations and members ------------------------------------------------------------


def organization_get_or_create(*, name: str) -> Organization:
    organization, _ = Organization.objects.get_or_create(name=name)
    return organization


def membership_set(*, organization: Organization, user: User, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationFailed(code="invalid_role", message=f"Unknown role {role!r}; use one of {Role.values}.")
    membership, _ = Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": role})
    return membership


# --- API tokens -----------------------------------------------------------------------------

TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, organization: Organization, user: User | None = None, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; the raw secret is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        organization=organization, user=user, name=name, key_hash=token_hash(raw), prefix=raw[:8]
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token with this secret, its last use recorded (at most once a minute)."""
    if not raw or len(raw) > 256:
        return None
    token = (
        ApiToken.objects.select_related("organization", "user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- projects -------------------------------------------------------------------------------


@transaction.atomic
def project_create(
    *,
    organization: Organization,
    name: str,
    short_description: str = "",
    description: str = "",
    label_configuration: Sequence[dict[str, Any]] | None = None,
) -> Project:
    """A project with its label configuration and label iteration (each with its own id)."""
    if not name.strip():
        raise ValidationFailed(
            code="invalid",
            message="A project needs a name.",
            details=[ErrorDetail(path="name", code="required", message="Give the project a name.")],
        )
    project = Project.objects.create(
        organization=organization,
        name=name.strip(),
        short_description=short_description,
        description=description,
    )
    configuration = LabelConfiguration.objects.create(project=project)
    LabelIteration.objects.create(project=project)
    if label_configuration:
        label_config_replace(configuration=configuration, entries=label_configuration)
    return project


def project_update(
    *, project: Project, name: str | None = None, short_description: str | None = None, description: str | None = None
) -> Project:
    """Change a project's name and descriptions (None leaves a field as it is)."""
    if name is not None:
        if not name.strip():
            raise ValidationFailed(
                code="invalid",
                message="A project needs a name.",
                details=[ErrorDetail(path="name", code="blank", message="Give the project a name.")],
            )
        project.name = name.strip()
    if short_description is not None:
        project.short_description = short_description
    if description is not None:
        project.description = description
    project.save(update_fields=["name", "short_description", "description", "updated_at"])
    return project


def project_delete(*, project: Project) -> None:
    """Delete a project with its configuration, tasks and labels; its datasets and media stay."""
    project.delete()


# --- datasets -------------------------------------------------------------------------------


def dataset_create(*, organization: Organization, name: str, short_description: str = "") -> Dataset:
    if Dataset.objects.filter(organization=organization, name=name, deleted_at__isnull=True).exists():
        raise AlreadyExists(
            code="dataset_name_taken",
            message=f"A dataset named {name!r} exists already; choose another name.",
            params=("Dataset", "name", name),
        )
    try:
        with transaction.atomic():
            return Dataset.objects.create(organization=organization, name=name, short_description=short_description)
    except IntegrityError as exc:  # a concurrent create took the name
        raise AlreadyExists(
            code="dataset_name_taken",
            message=f"A dataset named {name!r} exists already; choose another name.",
            params=("Dataset", "name", name),
        ) from exc


@transaction.atomic
def dataset_connect(*, dataset: Dataset, project: Project) -> None:
    """Connect a dataset to a project; every live media of it gets a task there."""
    if dataset.organization_id != project.organization_id:
        raise NotFound(code="not_found", message="No such dataset.", params=("Dataset", "id", str(dataset.id)))
    if dataset.media_type != project.media_type:
        raise Conflict(code="media_type_mismatch", message="The dataset's media type differs from the project's.")
    if dataset.projects.filter(pk=project.pk).exists():
        raise AlreadyExists(
            code="already_connected",
            message=f"Dataset {dataset.name!r} is connected to this project already.",
            params=("Project", "Dataset"),
        )
    dataset.projects.add(project)
    signals.dataset_connected.send(sender=Dataset, dataset=dataset, project=project)


@transaction.atomic
def dataset_disconnect(*, dataset: Dataset, project: Project) -> None:
    """Disconnect a dataset; its tasks in the project stay (labels are never lost silently)."""
    if not dataset.projects.filter(pk=project.pk).exists():
        raise Conflict(
            code="not_connected",
            message=f"Dataset {dataset.name!r} is not connected to this project.",
            params=("Project", "Dataset"),
        )
    dataset.projects.remove(project)


def dataset_delete(*, dataset: Dataset) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(deleted_at=timezone.now())


# --- media ----------------------------------------------------------------------------------

#: Formats a browser can show; the DataGym facade narrows this to JPEG and PNG.
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


@dataclass(frozen=True)
class ImageInfo:
    mime_type: str
    width: int
    height: int


def image_inspect(*, content: bytes, allowed_formats: Iterable[str] = IMAGE_FORMATS) -> ImageInfo:
    """Sniff an image's format from its bytes (never its name) and read its size.

    Refuses decompression bombs by pixel count before anything is decoded.
    """
    allowed = set(allowed_formats)
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format or ""
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ValidationFailed(
            code="not_an_image",
            message="The file is not an image that Labelsite can read; upload a JPEG or PNG file.",
            params=("unknown", sorted(IMAGE_FORMATS[f] for f in allowed if f in IMAGE_FORMATS)),
        ) from exc
    if image_format not in allowed:
        detected = IMAGE_FORMATS.get(image_format, f"image/{image_format.lower()}")
        raise ValidationFailed(
            code="unsupported_image_format",
            message=f"Images of type {detected} are not accepted; upload JPEG or PNG.",
            params=(detected, sorted(IMAGE_FORMATS[f] for f in allowed if f in IMAGE_FORMATS)),
        )
    if width * height > settings.LABELSITE_MAX_IMAGE_PIXELS:
        raise ValidationFailed(
            code="image_too_large",
            message=(
                f"The image has {width}x{height} pixels, more than the limit of "
                f"{settings.LABELSITE_MAX_IMAGE_PIXELS}; scale it down first."
            ),
        )
    return ImageInfo(mime_type=IMAGE_FORMATS[image_format], width=width, height=height)


def _media_name_taken(*, dataset: Dataset, name: str) -> AlreadyExists:
    return AlreadyExists(
        code="media_name_taken",
        message=f"The dataset has a media named {name!r} already; rename the file.",
        params=("Image", "name", name),
    )


def media_create_from_file(
    *, dataset: Dataset, name: str, content: bytes | IO[bytes], allowed_formats: Iterable[str] = IMAGE_FORMATS
) -> Media:
    """Store one uploaded image; its tasks appear in every project the dataset is in."""
    data = content if isinstance(content, bytes) else content.read()
    name = name.strip()
    if not name or "/" in name or "\\" in name or name in {".", ".."} or "\x00" in name:
        raise ValidationFailed(
            code="invalid_name",
            message="The file name must not be empty or contain a path; send a plain name such as photo.jpg.",
            details=[ErrorDetail(path="name", code="invalid", message="A plain file name is required.")],
        )
    if len(data) > settings.LABELSITE_MAX_IMAGE_BYTES:
        raise ValidationFailed(
            code="file_too_large",
            message=f"The file is larger than {settings.LABELSITE_MAX_IMAGE_BYTES} bytes.",
        )
    info = image_inspect(content=data, allowed_formats=allowed_formats)
    if Media.objects.filter(dataset=dataset, name=name, deleted_at__isnull=True).exists():
        raise _media_name_taken(dataset=dataset, name=name)
    media = Media(
        organization_id=dataset.organization_id,
        dataset=dataset,
        name=name,
        source=MediaSource.LOCAL,
        mime_type=info.mime_type,
        width=info.width,
        height=info.height,
    )
    media.file.save(name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            media.save()
            signals.media_created.send(sender=Dataset, dataset=dataset, media_ids=[media.id])
    except IntegrityError as exc:
        media.file.delete(save=False)
        raise _media_name_taken(dataset=dataset, name=name) from exc
    return media


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes | IO[bytes]


@dataclass(frozen=True)
class MediaUploadFailure:
    name: str
    error: DomainError


@dataclass(frozen=True)
class MediaUploadResult:
    created: list[Media]
    failed: list[MediaUploadFailure]


def media_create_from_files(*, dataset: Dataset, files: Sequence[UploadedFile]) -> MediaUploadResult:
    """Store many uploaded images, each on its own: one bad file does not stop the others."""
    created: list[Media] = []
    failed: list[MediaUploadFailure] = []
    for uploaded in files:
        try:
            created.append(media_create_from_file(dataset=dataset, name=uploaded.name, content=uploaded.content))
        except DomainError as error:
            failed.append(MediaUploadFailure(name=uploaded.name, error=error))
    return MediaUploadResult(created=created, failed=failed)


class UrlStatus:
    SUCCESS = "SUCCESS"
    DUPLICATE = "DUPLICATE"
    UNSUPPORTED_MIME_TYPE = "UNSUPPORTED_MIME_TYPE"
    FAILED = "FAILED"


IMAGE_URL_EXTENSIONS = {"jpg", "jpeg", "png"}


@dataclass(frozen=True)
class UrlResult:
    url: str
    status: str
    media: Media | None


def media_name_from_url(url: str) -> str:
    path = urlsplit(url).path
    return path.rsplit("/", 1)[-1]


@transaction.atomic
def media_create_from_urls(*, dataset: Dataset, urls: Iterable[str]) -> list[UrlResult]:
    """Add media by URL without fetching them (DataGym's rules: the extension decides).

    The page and both APIs use this; a URL is fetched only when the image is shown, and
    then through the safe fetcher that refuses private addresses.
    """
    unique_urls = list(dict.fromkeys(u.strip() for u in urls if isinstance(u, str)))
    existing = {
        u.lower()
        for u in Media.objects.filter(dataset=dataset, source=MediaSource.URL, deleted_at__isnull=True).values_list(
            "url", flat=True
        )
    }
    results: list[UrlResult] = []
    to_create: list[Media] = []
    for url in unique_urls:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            results.append(UrlResult(url=url, status=UrlStatus.FAILED, media=None))
            continue
        if url.lower() in existing:
            results.append(UrlResult(url=url, status=UrlStatus.DUPLICATE, media=None))
            continue
        extension = url.rsplit(".", 1)[-1].lower() if "." in url else ""
        if extension not in IMAGE_URL_EXTENSIONS:
            results.append(UrlResult(url=url, status=UrlStatus.UNSUPPORTED_MIME_TYPE, media=None))
            continue
        media = Media(
            organization_id=dataset.organization_id,
            dataset=dataset,
            name=media_name_from_url(url)[:255],
            source=MediaSource.URL,
            url=url,
            mime_type="image/png" if extension == "png" else "image/jpeg",
        )
        existing.add(url.lower())
        to_create.append(media)
        results.append(UrlResult(url=url, status=UrlStatus.SUCCESS, media=media))
    _media_bulk_insert(dataset=dataset, media=to_create)
    return results


#: S3's rules for bucket names, roughly: 3-63 lower-case letters, digits, dots and hyphens.
_S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3KeyResult:
    key: str
    status: str
    media: Media | None


@transaction.atomic
def media_create_from_s3(*, dataset: Dataset, bucket: str, keys: Iterable[str]) -> list[S3KeyResult]:
    """Add media that live in an S3 bucket, by key, without fetching them now.

    Each media's url is `s3://bucket/key` and its name the key's last part (numbered when
    taken). The same URL twice in the dataset is a DUPLICATE; a key whose extension is not
    an image's is UNSUPPORTED_MIME_TYPE.
    """
    if not _S3_BUCKET_RE.fullmatch(bucket or ""):
        raise ValidationFailed(
            code="invalid",
            message="The bucket name is not a valid S3 bucket name.",
            details=[ErrorDetail(path="bucket", code="invalid", message="3-63 characters: a-z, 0-9, '.' and '-'.")],
        )
    unique_keys = list(dict.fromkeys(k.strip().lstrip("/") for k in keys if isinstance(k, str)))
    existing = set(
        Media.objects.filter(dataset=dataset, source=MediaSource.S3, deleted_at__isnull=True).values_list(
            "url", flat=True
        )
    )
    results: list[S3KeyResult] = []
    to_create: list[Media] = []
    for key in unique_keys:
        name = key.rsplit("/", 1)[-1]
        url = f"s3://{bucket}/{key}"
        if not name or len(url) > 2048:
            results.append(S3KeyResult(key=key, status=UrlStatus.FAILED, media=None))
            continue
        if url in existing:
            results.append(S3KeyResult(key=key, status=UrlStatus.DUPLICATE, media=None))
            continue
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in IMAGE_URL_EXTENSIONS:
            results.append(S3KeyResult(key=key, status=UrlStatus.UNSUPPORTED_MIME_TYPE, media=None))
            continue
        media = Media(
            organization_id=dataset.organization_id,
            dataset=dataset,
            name=name[:255],
            source=MediaSource.S3,
            url=url,
            mime_type="image/png" if extension == "png" else "image/jpeg",
        )
        existing.add(url)
        to_create.append(media)
        results.append(S3KeyResult(key=key, status=UrlStatus.SUCCESS, media=media))
    _media_bulk_insert(dataset=dataset, media=to_create)
    return results


def _media_bulk_insert(*, dataset: Dataset, media: list[Media]) -> None:
    """Insert media in bulk, giving a name that is taken a numbered suffix."""
    if not media:
        return
    taken = set(
        Media.objects.filter(dataset=dataset, deleted_at__isnull=True, name__in=[m.name for m in media]).values_list(
            "name", flat=True
        )
    )
    for item in media:
        if item.name in taken:
            stem, dot, extension = item.name.rpartition(".")
            base, suffix = (stem, f".{extension}") if dot else (item.name, "")
            counter = 2
            while f"{base} ({counter}){suffix}" in taken:
                counter += 1
            item.name = f"{base} ({counter}){suffix}"
        taken.add(item.name)
    Media.objects.bulk_create(media, batch_size=1000)
    signals.media_created.send(sender=Dataset, dataset=dataset, media_ids=[m.id for m in media])


def media_delete(*, media: Media) -> None:
    """Soft-delete a media; its name becomes free again, its labels stay for the record."""
    updated = Media.objects.filter(pk=media.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    if not updated:
        raise Conflict(code="media_already_deleted", message="The media is deleted already.", params=(str(media.id),))
