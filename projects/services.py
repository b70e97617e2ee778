"""Writes of the projects app: organisations, members, tokens, projects, datasets, media."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import File
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from labelsite.bulk_insert import rows_insert
from labelsite.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    ErrorDetail,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from labelsite.images import image_seen_size
from labelsite.netguard import url_shape_problem
from labelsite.table_statistics import table_statistics_refresh_after_write
from labelsite.uploads import IMAGE_UPLOAD
from projects import signals
from projects.label_config import FORBIDDEN_KEYWORDS, label_config_replace, label_configs_lock
from projects.media_keys import MEDIA_KEYS_MAX_ERRORS, MediaKeysRow, global_key_errors
from projects.media_probe import media_probe_queue_on_commit
from projects.models import (
    ApiToken,
    Dataset,
    LabelConfiguration,
    LabelIteration,
    Media,
    MediaSource,
    Membership,
    MembershipInvitation,
    Organization,
    Project,
    Role,
)
from projects.s3_sources import (
    S3_BUCKET_NAME_RE,
    S3_SOURCES_SETTING,
    S3Source,
    app_storage_areas,
    s3_key_shape_problem,
    s3_source_of,
    s3_sources_described,
    s3_sources_for,
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
    """The usable token with this secret, its last use recorded (at most once a minute).

    Usable: not revoked and, for a personal token, its user still active and still a member
    of the token's organisation. This is judged on every request, not when the user changes,
    so that no path that deactivates or removes a user can forget the tokens (a deactivated
    user's token could otherwise mint organisation tokens that outlive them).
    """
    if not raw or len(raw) > 256:
        return None
    token = (
        ApiToken.objects.select_related("organization", "user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True)
        .filter(Q(user__isnull=True) | Q(user__is_active=True, user__memberships__organization_id=F("organization_id")))
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
    """Delete a project with its configuration, tasks and labels; its datasets and media stay.

    The writers of labels the project has at that moment (an import, a save) finish first, and
    their labels go with the rest: labels have no foreign key to their task (`Label.task`), so
    the configuration's lock is taken before Django collects what to delete."""
    with transaction.atomic():
        label_configs_lock(project_ids=[project.pk])
        project.delete()


# --- datasets -------------------------------------------------------------------------------


def dataset_create(*, organization: Organization, name: str, short_description: str = "") -> Dataset:
    if name in FORBIDDEN_KEYWORDS:
        # Reserved words of the export formats (DataGym refuses them for dataset names too).
        raise ValidationFailed(
            code="forbidden_keyword",
            message=f"{name!r} is a reserved word; choose another dataset name.",
            details=[ErrorDetail(path="name", code="forbidden_keyword", message="Choose another name.")],
            params=(name,),
        )
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


def image_inspect(*, content: bytes | IO[bytes], allowed_formats: Iterable[str] = IMAGE_FORMATS) -> ImageInfo:
    """Sniff an image's format from its bytes (never its name) and read its size.

    Only the header is read (a file is left where it was): nothing is decoded, so decompression
    bombs are refused by pixel count first.
    """
    allowed = set(allowed_formats)
    accepted = ", ".join(sorted(f for f in allowed if f in IMAGE_FORMATS))
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    start = stream.tell()
    try:
        with Image.open(stream) as image:
            image_format = image.format or ""
            width, height = image_seen_size(image)
    except Image.DecompressionBombError as exc:
        # Pillow refuses more than twice its own limit while opening; it is still "too large",
        # not "not an image" (which is what a 50,000 x 50,000 PNG was reported as).
        raise ValidationFailed(
            code="image_too_large",
            message=f"{exc} The limit here is {settings.LABELSITE_MAX_IMAGE_PIXELS} pixels; scale it down first.",
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValidationFailed(
            code="not_an_image",
            message=f"The file is not an image that Labelsite can read; upload an image of type {accepted}.",
            params=("unknown", sorted(IMAGE_FORMATS[f] for f in allowed if f in IMAGE_FORMATS)),
        ) from exc
    finally:
        stream.seek(start)
    if image_format not in allowed:
        detected = IMAGE_FORMATS.get(image_format, f"image/{image_format.lower()}")
        raise ValidationFailed(
            code="unsupported_image_format",
            message=f"Images of type {detected} are not accepted here; upload an image of type {accepted}.",
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


#: A media name is its file's name in storage: 255 bytes is what common file systems take (NAME_MAX).
MEDIA_NAME_MAX_BYTES = 255


def _media_name_taken(*, dataset: Dataset, name: str) -> AlreadyExists:
    return AlreadyExists(
        code="media_name_taken",
        message=f"The dataset has a media named {name!r} already; rename the file.",
        params=("Image", "name", name),
    )


def _stream_size(stream: IO[bytes]) -> int:
    """The bytes of a file from where it is to its end, without reading them."""
    start = stream.tell()
    size = stream.seek(0, os.SEEK_END) - start
    stream.seek(start)
    return size


def media_create_from_file(
    *,
    dataset: Dataset,
    name: str,
    content: bytes | IO[bytes],
    allowed_formats: Iterable[str] = IMAGE_FORMATS,
    external_id: str = "",
    global_key: str | None = None,
    global_key_path: str = "global_key",
) -> Media:
    """Store one uploaded image; its tasks appear in every project the dataset is in.

    A file is streamed, never read whole: its size is checked, its header inspected, and it is
    copied to storage in chunks (an upload Django spooled to disk is moved there). Its thumbnail
    is queued for the worker once the media is committed.
    """
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    name = name.strip()
    if not name or "/" in name or "\\" in name or name in {".", ".."} or "\x00" in name:
        raise ValidationFailed(
            code="invalid_name",
            message="The file name must not be empty or contain a path; send a plain name such as photo.jpg.",
            details=[ErrorDetail(path="name", code="invalid", message="A plain file name is required.")],
        )
    if len(name.encode()) > MEDIA_NAME_MAX_BYTES:
        # Refused, not cut short: the name is how clients and exports know the media, and a
        # shortened name could collide with another. Beyond this a file system refuses it (a 500).
        raise ValidationFailed(
            code="name_too_long",
            message=(
                f"The file name is {len(name.encode())} bytes long (UTF-8), more than the limit of "
                f"{MEDIA_NAME_MAX_BYTES}; rename the file."
            ),
            details=[
                ErrorDetail(path="name", code="too_long", message=f"At most {MEDIA_NAME_MAX_BYTES} bytes (UTF-8).")
            ],
            params=(MEDIA_NAME_MAX_BYTES,),
        )
    size = _stream_size(stream)
    if size > IMAGE_UPLOAD.max_bytes:
        raise IMAGE_UPLOAD.file_too_large(name=name, size=size)
    info = image_inspect(content=stream, allowed_formats=allowed_formats)
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
        external_id=external_id,
        global_key=global_key,
    )
    if global_key is not None:
        key_errors = global_key_errors(global_key, global_key_path)
        if key_errors:
            raise ValidationFailed(code="invalid_global_key", message=key_errors[0].message, details=key_errors)
        if _global_key_holder(media=media) is not None:
            raise _global_key_taken(media=media, path=global_key_path)
    upload = stream if isinstance(stream, File) else File(stream, name=name)
    upload.size = size
    media.file.save(name, upload, save=False)
    try:
        with transaction.atomic():
            media.save()
            signals.media_created.send(sender=Dataset, dataset=dataset, media_ids=[media.id])
    except IntegrityError as exc:
        media.file.delete(save=False)
        if global_key is not None and _global_key_holder(media=media) is not None:
            raise _global_key_taken(media=media, path=global_key_path) from exc
        raise _media_name_taken(dataset=dataset, name=name) from exc
    media_probe_queue_on_commit(organization_id=media.organization_id)
    return media


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes | IO[bytes]
    external_id: str = ""
    global_key: str | None = None
    #: Where the upload gave the global key (its errors are located there).
    global_key_path: str = "global_key"


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
            media = media_create_from_file(
                dataset=dataset,
                name=uploaded.name,
                content=uploaded.content,
                external_id=uploaded.external_id,
                global_key=uploaded.global_key,
                global_key_path=uploaded.global_key_path,
            )
            created.append(media)
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
    message: str = ""  # why a FAILED URL was refused, and what to give instead


def media_name_from_url(url: str) -> str:
    path = urlsplit(url).path
    return path.rsplit("/", 1)[-1]


@transaction.atomic
def media_create_from_urls(*, dataset: Dataset, urls: Iterable[str]) -> list[UrlResult]:
    """Add media by URL without fetching them (DataGym's rules: the extension decides).

    The page and both APIs use this; a URL is fetched only when the image is shown, and
    then through the safe fetcher that refuses private addresses. A URL that points at this
    machine, a private network or a metadata service is refused here already (FAILED, with
    the reason), so that no such media is ever stored.
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
            message = f"{url!r} is not an http(s) URL; give the image's URL, e.g. https://host/image.jpg."
            results.append(UrlResult(url=url, status=UrlStatus.FAILED, media=None, message=message))
            continue
        problem = url_shape_problem(url)
        if problem:
            message = (
                f"{url!r} cannot be a media URL: {problem}; give the image's public http(s) URL "
                "(an operator can allow an internal image host with LABELSITE_URL_ALLOWLIST)."
            )
            results.append(UrlResult(url=url, status=UrlStatus.FAILED, media=None, message=message))
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


@dataclass(frozen=True)
class S3KeyResult:
    key: str
    status: str
    media: Media | None


def _s3_bucket_refusal(bucket: str, sources: list[S3Source]) -> ValidationFailed:
    if sources:
        fix = (
            f"this organisation may use {s3_sources_described(sources)}; the operator adds buckets and "
            f"prefixes in {S3_SOURCES_SETTING}."
        )
    else:
        fix = (
            "this organisation has no S3 sources yet; ask the operator to add the bucket and its prefix "
            f"to {S3_SOURCES_SETTING}."
        )
    message = f"The bucket {bucket!r} is not an S3 source of this organisation: {fix}"
    return ValidationFailed(
        code="s3_source_not_allowed",
        message="The bucket is not an S3 source of this organisation; see details.",
        details=[ErrorDetail(path="bucket", code="s3_source_not_allowed", message=message)],
    )


def _s3_key_refusal(*, bucket: str, key: str, index: int, sources: list[S3Source]) -> ErrorDetail | None:
    """Why the organisation may not reference `bucket`/`key` (None when it may)."""
    problem = s3_key_shape_problem(key)
    if problem is not None:
        message = f"{key!r} cannot be referenced: {problem}."
    elif any(area.holds(bucket, key) for area in app_storage_areas()):
        message = f"{key!r} is inside Labelsite's own storage, which no media may reference; use a key of your own."
    elif not any(source.holds(key) for source in sources):
        prefixes = ", ".join(repr(source.prefix) for source in sources)
        message = (
            f"{key!r} is outside the prefixes this organisation may use in the bucket {bucket!r} ({prefixes}); "
            f"use a key under one of them, or ask the operator to add its prefix to {S3_SOURCES_SETTING}."
        )
    else:
        return None
    return ErrorDetail(path=f"keys[{index}]", code="s3_source_not_allowed", message=message)


@transaction.atomic
def media_create_from_s3(*, dataset: Dataset, bucket: str, keys: Iterable[str]) -> list[S3KeyResult]:
    """Add media that live in an S3 bucket, by key, without fetching them now.

    Only a bucket and prefix that `LABELSITE_S3_SOURCES` lists for the dataset's organisation
    may be referenced, never the app's own storage (`projects/s3_sources.py`): the image is
    shown through a URL signed with the server's credentials. Every key is checked before
    anything is written. Each media's url is `s3://bucket/key` and its name the key's last
    part (numbered when taken). The same URL twice in the dataset is a DUPLICATE; a key whose
    extension is not an image's is UNSUPPORTED_MIME_TYPE.
    """
    if not S3_BUCKET_NAME_RE.fullmatch(bucket or ""):
        raise ValidationFailed(
            code="invalid",
            message="The bucket name is not a valid S3 bucket name.",
            details=[ErrorDetail(path="bucket", code="invalid", message="3-63 characters: a-z, 0-9, '.' and '-'.")],
        )
    organization_sources = s3_sources_for(organization_id=dataset.organization_id)
    sources = [source for source in organization_sources if source.bucket == bucket]
    if not sources:
        raise _s3_bucket_refusal(bucket, organization_sources)
    first_index: dict[str, int] = {}
    for index, raw in enumerate(keys):
        if isinstance(raw, str):
            first_index.setdefault(raw.strip().lstrip("/"), index)
    refusals = [
        refusal
        for key, index in first_index.items()
        if key.rsplit("/", 1)[-1]  # a key naming no file is FAILED below, never read
        and (refusal := _s3_key_refusal(bucket=bucket, key=key, index=index, sources=sources)) is not None
    ]
    if refusals:
        raise ValidationFailed(
            code="s3_source_not_allowed",
            message="Some keys are outside the S3 sources of this organisation; nothing was added; see details.",
            details=refusals,
        )
    existing = set(
        Media.objects.filter(dataset=dataset, source=MediaSource.S3, deleted_at__isnull=True).values_list(
            "url", flat=True
        )
    )
    results: list[S3KeyResult] = []
    to_create: list[Media] = []
    for key in first_index:
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


def _media_bulk_insert(*, dataset: Dataset, media: list[Media], probe: bool = True) -> None:
    """Insert media in bulk, giving a name that is taken a numbered suffix.

    `probe`: queue the worker's probe (size, thumbnail) after the commit; an import passes
    False and queues it when the job ends, so that probing never slows the import.
    """
    if not media:
        return
    _media_names_free(dataset=dataset, media=media)
    Media.objects.bulk_create(media, batch_size=1000)
    _media_inserted(dataset=dataset, media_ids=[m.id for m in media], probe=probe)


def media_bulk_insert_new(*, dataset: Dataset, media: list[Media]) -> set[Any]:
    """Insert the media that no live media holds yet (its URL, global key or name) and answer
    the ids of those inserted: `INSERT ... ON CONFLICT DO NOTHING`, then one query.

    For writers that run at once (an import's chunks): two creating the same URL or global key
    get one media, decided by the database's unique indexes; the caller finds the others'
    media by URL or global key (a name taken meanwhile is the caller's to rename and retry).
    Not probed: the import queues the probe when it ends.
    """
    if not media:
        return set()
    _media_names_free(dataset=dataset, media=media)
    if connection.vendor == "postgresql":
        inserted = {row[0] for row in _media_rows_insert(dataset, media)}
    else:
        Media.objects.bulk_create(media, batch_size=1000, ignore_conflicts=True)
        inserted = set(Media.objects.filter(id__in=[m.id for m in media]).values_list("id", flat=True))
    _media_inserted(dataset=dataset, media_ids=[m.id for m in media if m.id in inserted], probe=False)
    return inserted


def _media_rows_insert(dataset: Dataset, media: list[Media]) -> list[tuple[Any, ...]]:
    """New media of one dataset in one statement (`labelsite.bulk_insert`): the columns a media
    made from a URL or a data row sets vary; the others take their defaults."""
    dumps = orjson.dumps
    return rows_insert(
        Media,
        arrays={
            "id": ("uuid", [m.id for m in media]),
            "name": ("varchar", [m.name for m in media]),
            "source": ("varchar", [m.source for m in media]),
            "url": ("varchar", [m.url for m in media]),
            "mime_type": ("varchar", [m.mime_type for m in media]),
            "global_key": ("varchar", [m.global_key for m in media]),
            "external_id": ("varchar", [m.external_id for m in media]),
            "metadata": ("jsonb", [dumps(m.metadata).decode() for m in media]),
            "attachments": ("jsonb", [dumps(m.attachments).decode() for m in media]),
            "width": ("integer", [m.width for m in media]),
            "height": ("integer", [m.height for m in media]),
        },
        constants={"organization_id": dataset.organization_id, "dataset_id": dataset.pk},
    )


def _media_inserted(
    *, dataset: Dataset, media_ids: list[Any], probe: bool, tasks_made_in: Collection[Any] = (), statistics: bool = True
) -> None:
    if not media_ids:
        return
    # The next import looks these media up at once: the planner must know they exist.
    if statistics:
        table_statistics_refresh_after_write(table=Media._meta.db_table, rows=len(media_ids))
    signals.media_created.send(sender=Dataset, dataset=dataset, media_ids=media_ids, tasks_made_in=tuple(tasks_made_in))
    if probe:
        media_probe_queue_on_commit(organization_id=dataset.organization_id)


def media_inserted_announce(
    *, dataset: Dataset, media_ids: list[Any], tasks_made_in: Collection[Any] = (), statistics: bool = True
) -> None:
    """What follows the insert of new media by a writer of its own (an import's planned media, in
    the writer's transaction): fresh planner statistics (unless `statistics` is False: the writer
    asks for them itself), and their tasks in every project the dataset is connected to but those
    of `tasks_made_in` (whose tasks the writer made, with ids it planned). Not probed: the import
    queues the probe when it ends."""
    _media_inserted(
        dataset=dataset, media_ids=media_ids, probe=False, tasks_made_in=tasks_made_in, statistics=statistics
    )


def _media_names_free(*, dataset: Dataset, media: list[Media]) -> None:
    """Give each media whose name is taken in the dataset (or by an earlier one) a numbered suffix."""
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


def media_delete(*, media: Media) -> None:
    """Soft-delete a media; its name becomes free again, its labels stay for the record."""
    updated = Media.objects.filter(pk=media.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    if not updated:
        raise Conflict(code="media_already_deleted", message="The media is deleted already.", params=(str(media.id),))


#: "Leave this field as it is" for `media_keys_update` (None is a value: no global key).
KEEP: Any = object()


def media_keys_update(*, media: Media, external_id: str = KEEP, global_key: str | None = KEEP) -> Media:
    """Give a media the external id and global key another tool names it by (Ango's `externalId`,
    Labelbox's `globalKey`). A global key is unique among the organisation's live media, compared
    in lower case: the database's `media_unique_live_global_key` decides, a taken key is a 409."""
    fields = []
    if external_id is not KEEP:
        media.external_id = external_id
        fields.append("external_id")
    if global_key is not KEEP:
        if global_key is not None:
            errors = global_key_errors(global_key, "global_key")
            if errors:
                raise ValidationFailed(code="invalid_global_key", message=errors[0].message, details=errors)
        media.global_key = global_key
        fields.append("global_key")
    if not fields:
        return media
    try:
        with transaction.atomic():
            media.save(update_fields=fields)
    except IntegrityError as exc:
        raise _global_key_taken(media=media) from exc
    return media


def _global_key_holder(*, media: Media) -> Media | None:
    """The other live media of the organisation with the media's global key, in any case."""
    return (
        Media.objects.filter(
            organization_id=media.organization_id,
            global_key__iexact=media.global_key,
            deleted_at__isnull=True,
        )
        .exclude(pk=media.pk)
        .select_related("dataset")
        .first()
    )


def _global_key_taken(*, media: Media, path: str = "global_key") -> AlreadyExists:
    holder = _global_key_holder(media=media)
    where = f" by {holder.name!r} in the dataset {holder.dataset.name!r}" if holder is not None else ""
    message = (
        f"The global key {media.global_key!r} is taken{where} (global keys are unique in the organisation, "
        "whatever the case); choose another key or remove it from that media first."
    )
    return AlreadyExists(
        code="global_key_taken",
        message=message,
        details=[ErrorDetail(path, "global_key_taken", message)],
        params=("Media", "global_key", media.global_key),
    )


def media_keys_import(*, dataset: Dataset, rows: Sequence[MediaKeysRow]) -> int:
    """Give a dataset's media, by file name, the external ids and global keys of a mapping file
    (`media_keys_parse`). Every row is checked first (a known live media, named once; a global key
    by the rules, once in the file, not taken by another media of the organisation in any case);
    a file with errors writes nothing and raises with all of them. Returns the media updated."""
    media_by_name: dict[str, Media] = {}
    for start in range(0, len(rows), 1000):
        batch = [row.name for row in rows[start : start + 1000]]
        for found in Media.objects.filter(dataset=dataset, deleted_at__isnull=True, name__in=batch):
            media_by_name[found.name] = found
    wanted_keys = {row.global_key.lower() for row in rows if row.global_key}
    updated_ids = {media.pk for media in media_by_name.values()}
    taken: dict[str, str] = {}
    lowered = list(wanted_keys)
    for start in range(0, len(lowered), 1000):
        holders = (
            Media.objects.filter(organization_id=dataset.organization_id, deleted_at__isnull=True)
            .annotate(key_lower=Lower("global_key"))
            .filter(key_lower__in=lowered[start : start + 1000])
            .exclude(pk__in=updated_ids)
            .values_list("key_lower", "name")
        )
        taken.update(dict(holders))
    errors: list[ErrorDetail] = []
    seen_names: dict[str, str] = {}
    seen_keys: dict[str, str] = {}
    changed: list[Media] = []
    for row in rows:
        media = media_by_name.get(row.name)
        if not row.name:
            errors.append(ErrorDetail(row.path("name"), "missing_name", "Give the image's file name."))
        elif media is None:
            errors.append(
                ErrorDetail(
                    row.path("name"),
                    "unknown_media",
                    f"No image of the dataset {dataset.name!r} is named {row.name!r}; upload it first or fix the name.",
                )
            )
        elif row.name in seen_names:
            errors.append(
                ErrorDetail(row.path("name"), "duplicate_name", f"{row.name!r} is on {seen_names[row.name]} already.")
            )
        seen_names.setdefault(row.name, row.place)
        if row.external_id is not None and len(row.external_id) > 255:
            errors.append(
                ErrorDetail(row.path("external_id"), "external_id_length", "An external id has at most 255 characters.")
            )
        if row.global_key is not None:
            key_errors = global_key_errors(row.global_key, row.path("global_key"))
            lower = row.global_key.lower()
            if key_errors:
                errors += key_errors
            elif lower in seen_keys:
                errors.append(
                    ErrorDetail(
                        row.path("global_key"),
                        "duplicate_global_key",
                        f"The global key {row.global_key!r} is on {seen_keys[lower]} already (case is ignored).",
                    )
                )
            elif lower in taken:
                errors.append(
                    ErrorDetail(
                        row.path("global_key"),
                        "global_key_taken",
                        f"The global key {row.global_key!r} is taken by {taken[lower]!r} (global keys are unique "
                        "in the organisation, whatever the case); choose another.",
                    )
                )
            seen_keys.setdefault(lower, row.place)
        if media is not None and not errors:
            if row.external_id is not None:
                media.external_id = row.external_id
            if row.global_key is not None:
                media.global_key = row.global_key
            changed.append(media)
    if errors:
        raise ValidationFailed(
            code="invalid_media_keys",
            message=f"{len(errors)} error(s) in the mapping file; nothing was changed. Fix them and upload it again.",
            details=errors[:MEDIA_KEYS_MAX_ERRORS],
        )
    try:
        with transaction.atomic():
            Media.objects.bulk_update(changed, ["external_id", "global_key"], batch_size=1000)
    except IntegrityError as exc:  # a concurrent change took a key, or the file swaps two keys
        raise AlreadyExists(
            code="global_key_taken",
            message="A global key of the file was taken while it was written, or the file swaps keys between "
            "images; remove the old keys first (PATCH /api/media/{id} with global_key null), then upload it again.",
            details=[ErrorDetail("file", "global_key_taken", "")],
        ) from exc
    return len(changed)


# --- project setup: the life of a project, members, and configuration changes ----------------
# (used by the setup pages and their API; see projects/setup_views.py and projects/setup_api.py)


def project_archive(*, project: Project, archived: bool = True) -> Project:
    """Archive a project (it leaves the project lists, nothing is deleted) or bring it back."""
    project.archived_at = (project.archived_at or timezone.now()) if archived else None
    project.save(update_fields=["archived_at", "updated_at"])
    return project


def project_delete_confirmed(*, project: Project, confirm_name: str) -> None:
    """Delete a project only when `confirm_name` is its exact name (what the page asks the admin to type)."""
    if confirm_name.strip() != project.name:
        raise ValidationFailed(
            code="confirmation_mismatch",
            message="Type the project's name exactly to delete it.",
            details=[ErrorDetail(path="confirm_name", code="mismatch", message=f"Type {project.name!r} to confirm.")],
        )
    project_delete(project=project)


def user_create_member(
    *, organization: Organization, username: str, password: str, role: str, email: str = ""
) -> Membership:
    """Create a user with a password and make them a member of the organisation."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError as DjangoValidationError

    username = username.strip()
    if not username:
        raise ValidationFailed(
            code="invalid",
            message="A user needs a user name.",
            details=[ErrorDetail(path="username", code="required", message="Give the user a name to sign in with.")],
        )
    if User.objects.filter(username__iexact=username).exists():
        # Unavoidable for a unique name (as on any sign-up form), but nothing more is said: not
        # where the account is, nor that it could be added instead.
        raise AlreadyExists(
            code="username_taken",
            message=f"The user name “{username}” is taken; choose another.",
            params=("User", "username", username),
        )
    try:
        validate_password(password, User(username=username, email=email))
    except DjangoValidationError as exc:
        raise ValidationFailed(
            code="invalid",
            message="The password is too weak.",
            details=[ErrorDetail(path="password", code="weak", message=message) for message in exc.messages],
        ) from exc
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, email=email)
        return membership_set(organization=organization, user=user, role=role)


#: As long as Django's user names may be.
INVITATION_USERNAME_MAX_LENGTH = 150


def membership_invite(
    *,
    organization: Organization,
    username: str,
    role: str,
    invited_by: User | None = None,
    project: Project | None = None,
) -> MembershipInvitation:
    """Record an invitation to join the organisation for the user of this name, whoever that is.

    Joining takes the user's consent, so nobody is added by name. The invitation is recorded for
    any name, an account of that name or not, and answered the same way, so that an admin learns
    nothing about accounts outside their organisation; only the account of that name (if any, at
    this moment) sees it. Inviting the same name again updates the role and project it offers.
    """
    username = username.strip()
    if role not in Role.values:
        raise ValidationFailed(code="invalid_role", message=f"Unknown role {role!r}; use one of {Role.values}.")
    if not username or len(username) > INVITATION_USERNAME_MAX_LENGTH:
        raise ValidationFailed(
            code="invalid",
            message="Give the user name of the person to invite.",
            details=[ErrorDetail(path="username", code="invalid", message="A user name of at most 150 characters.")],
        )
    if project is not None and project.organization_id != organization.pk:
        raise NotFound(code="not_found", message="No such project.", params=("Project", "id", str(project.pk)))
    if Membership.objects.filter(organization=organization, user__username__iexact=username).exists():
        # Only about a member of the admin's own organisation, whom the members page shows anyway.
        raise AlreadyExists(
            code="already_a_member",
            message=f"“{username}” is a member of this organisation already.",
            params=("Membership", "username", username),
        )
    with transaction.atomic():
        invitation = (
            MembershipInvitation.objects.select_for_update()
            .filter(organization=organization, username__iexact=username)
            .first()
        )
        if invitation is not None:
            invitation.role, invitation.project = role, project
            invitation.save(update_fields=["role", "project"])
            return invitation
        try:
            with transaction.atomic():
                return MembershipInvitation.objects.create(
                    organization=organization,
                    username=username,
                    user=User.objects.filter(username__iexact=username).first(),
                    role=role,
                    project=project,
                    invited_by=invited_by,
                )
        except IntegrityError:  # a concurrent invitation of the same name: it stands
            return MembershipInvitation.objects.get(organization=organization, username__iexact=username)


@transaction.atomic
def invitation_accept(*, invitation: MembershipInvitation, user: User) -> Membership:
    """The invited user joins with the role (and the project) the invitation offers.

    A user who has become a member meanwhile keeps their role: the invitation is used up.
    """
    invitation = MembershipInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.user_id != user.pk or invitation.declined_at is not None:
        raise NotFound(code="not_found", message="No such invitation.", params=("Invitation", "id", str(invitation.pk)))
    membership = Membership.objects.filter(organization_id=invitation.organization_id, user=user).first()
    if membership is None:
        membership = membership_set(organization=invitation.organization, user=user, role=invitation.role)
        if invitation.project is not None and invitation.project.archived_at is None:
            project_member_add(project=invitation.project, user=user)
    invitation.delete()
    return membership


def invitation_decline(*, invitation: MembershipInvitation) -> None:
    """The invited user says no. The invitation stays, marked, so the admin's list does not change:
    an invitation that vanished would tell the admin that an account of that name exists."""
    MembershipInvitation.objects.filter(pk=invitation.pk, declined_at__isnull=True).update(declined_at=timezone.now())


def invitation_withdraw(*, invitation: MembershipInvitation) -> None:
    invitation.delete()


@transaction.atomic
def membership_remove(*, organization: Organization, user: User) -> None:
    """Remove a user from the organisation and from its projects; their labels stay.

    The last admin cannot be removed: an organisation without an admin could not be changed.
    """
    membership = Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    if membership is None:
        raise NotFound(code="not_found", message="The user is not a member.", params=("Membership", "user", user.pk))
    if (
        membership.role == Role.ADMIN
        and Membership.objects.filter(organization=organization, role=Role.ADMIN).count() == 1
    ):
        raise Conflict(code="last_admin", message="The organisation's last admin cannot be removed; make another.")
    membership.delete()
    Project.members.through.objects.filter(user_id=user.pk, project__organization=organization).delete()


def membership_role_change(*, organization: Organization, user: User, role: str) -> Membership:
    """Change a member's role; the last admin keeps theirs."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(organization=organization, user=user).first()
        if membership is None:
            raise NotFound(
                code="not_found", message="The user is not a member.", params=("Membership", "user", user.pk)
            )
        if (
            membership.role == Role.ADMIN
            and role != Role.ADMIN
            and Membership.objects.filter(organization=organization, role=Role.ADMIN).count() == 1
        ):
            raise Conflict(code="last_admin", message="The organisation's last admin must stay an admin.")
        return membership_set(organization=organization, user=user, role=role)


@transaction.atomic
def member_deactivate(*, organization: Organization, user: User, actor: User) -> Literal["deactivated", "removed"]:
    """Stop a member from acting: their account is deactivated (no sign-in, sessions and personal
    tokens refused; labels and membership stay), or, when the account is used in other
    organisations too, they are removed from this one only: an admin of one organisation does not
    lock a user out of the others. Answers which of the two it did."""
    if user.pk == actor.pk:
        raise Conflict(
            code="deactivate_self",
            message="You cannot deactivate your own account; ask another admin of the organisation.",
        )
    if not Membership.objects.filter(organization=organization, user=user).exists():
        raise NotFound(code="not_found", message="No such member.", params=("User", "id", str(user.pk)))
    if Membership.objects.filter(user=user).exclude(organization=organization).exists():
        membership_remove(organization=organization, user=user)
        return "removed"
    if user.is_staff or user.is_superuser:
        raise PermissionDenied(
            code="site_administrator",
            message=f"{user.username} is a site administrator; only another site administrator can "
            "deactivate them (in the Django admin).",
        )
    user.is_active = False
    user.save(update_fields=["is_active"])
    return "deactivated"


@transaction.atomic
def member_reactivate(*, organization: Organization, user: User) -> None:
    """Let a deactivated member sign in again. Only an account used in this organisation alone:
    one shared with others was not deactivated here (see `member_deactivate`)."""
    if not Membership.objects.filter(organization=organization, user=user).exists():
        raise NotFound(code="not_found", message="No such member.", params=("User", "id", str(user.pk)))
    if user.is_active:
        return
    if Membership.objects.filter(user=user).exclude(organization=organization).exists():
        raise PermissionDenied(
            code="account_shared",
            message=f"{user.username}'s account is used in other organisations too; a site administrator "
            "reactivates it (in the Django admin).",
        )
    user.is_active = True
    user.save(update_fields=["is_active"])


def project_member_add(*, project: Project, user: User) -> None:
    """Assign a member of the project's organisation to the project (as their role says)."""
    if not Membership.objects.filter(organization_id=project.organization_id, user=user).exists():
        raise NotFound(
            code="not_a_member",
            message="Only members of the organisation can be assigned to its projects; add them first.",
            params=("User", "id", user.pk),
        )
    project.members.add(user)


def project_member_remove(*, project: Project, user: User) -> None:
    if not project.members.filter(pk=user.pk).exists():
        raise NotFound(code="not_found", message="The user is not assigned to this project.")
    project.members.remove(user)


# --- configuration changes that keep labels --------------------------------------------------
#
# `label_config_replace` deletes every entry and so every label (DataGym's semantics, which its
# API needs). The editor instead keeps an entry that comes back with the same schema id, the
# same type and the same parent: its labels stay. What is lost (entries that go, options that
# go, questions whose key changes) is computed first by `label_config_change_impact`, and
# `label_config_save` refuses to lose labels or answers unless the caller confirms.


@dataclass(frozen=True)
class _PlannedEntry:
    spec: Any  # label_config.EntrySpec
    existing: Any  # LabelEntry | None: the row that is kept
    parent: _PlannedEntry | None
    position: int


def _label_config_plan(
    *, configuration: LabelConfiguration, specs: Sequence[Any]
) -> tuple[list[_PlannedEntry], list[Any]]:
    """Which rows are kept (by schema id, type and kept parent) and which are removed."""
    from projects.models import LabelEntry

    rows = {row.schema_id: row for row in LabelEntry.objects.filter(configuration=configuration)}
    planned: list[_PlannedEntry] = []
    kept_ids: set[Any] = set()

    def walk(items: Sequence[Any], parent: _PlannedEntry | None) -> None:
        for position, spec in enumerate(items):
            row = rows.get(spec.schema_id) if spec.schema_id else None
            parent_row = parent.existing if parent is not None else None
            if row is not None and (
                row.type != spec.type
                or row.id in kept_ids
                or row.parent_id != (parent_row.id if parent_row is not None else None)
            ):
                row = None
            if row is not None:
                kept_ids.add(row.id)
            item = _PlannedEntry(spec=spec, existing=row, parent=parent, position=position)
            planned.append(item)
            walk(spec.children, item)

    walk(specs, None)
    removed = [row for row in rows.values() if row.id not in kept_ids]
    return planned, removed


def label_config_problems(*, entries: Any) -> list[ErrorDetail]:
    """Every problem of `entries`, exactly as `label_config_replace` reports them; [] when valid."""
    from projects import label_config

    specs, errors = label_config._parse(entries)
    shape_paths = [detail.path for detail in errors]
    errors.extend(
        detail
        for detail in label_config.label_config_validate(entries=specs)
        if detail not in errors and not any(label_config._is_within(detail.path, path) for path in shape_paths)
    )
    return errors


def _raise_if_invalid(entries: Any) -> list[Any]:
    from projects import label_config

    errors = label_config_problems(entries=entries)
    if errors:
        raise label_config._invalid(errors)
    return label_config.label_config_parse(entries=entries)


def _answer_count(tree: Any, key_path: Sequence[str], option_keys: set[str] | None) -> int:
    """Answers at `key_path` in an answer tree ({key: {"value", "answers"}}); with `option_keys`,
    only those whose value is (or holds) one of them."""
    if not isinstance(tree, dict) or not key_path:
        return 0
    node = tree.get(key_path[0])
    if not isinstance(node, dict):
        return 0
    if len(key_path) > 1:
        return _answer_count(node.get("answers"), key_path[1:], option_keys)
    value = node.get("value")
    if value in (None, "", []):
        return 0
    if option_keys is None:
        return 1
    values = value if isinstance(value, list) else [value]
    return int(any(v in option_keys for v in values))


def _anchor_and_path(row: Any, by_id: dict[Any, Any]) -> tuple[Any, list[str]]:
    """A question's nearest geometry ancestor (None: the task's global answers) and the keys down to it."""
    from projects.models import GEOMETRY_TYPES

    keys = [row.key]
    parent = by_id.get(row.parent_id)
    while parent is not None and parent.type not in GEOMETRY_TYPES:
        keys.insert(0, parent.key)
        parent = by_id.get(parent.parent_id)
    return parent, keys


def _answers_in(configuration: LabelConfiguration, anchor: Any, key_path: list[str], options: set[str] | None) -> int:
    if anchor is None:
        trees: Iterable[Any] = configuration.project.tasks.exclude(answers={}).values_list("answers", flat=True)
    else:
        # Empty trees count nothing; label answers are `json`, which has no equality to exclude them by.
        trees = anchor.labels.values_list("answers", flat=True)
    return sum(_answer_count(tree, key_path, options) for tree in trees)


@dataclass(frozen=True)
class ConfigChangeImpact:
    """What saving a new configuration does to the labels and answers made with the old one."""

    removed_classes: list[dict[str, Any]]  # {key, title, type, label_count}
    removed_questions: list[dict[str, Any]]  # {key, title, answer_count}
    removed_options: list[dict[str, Any]]  # {question_key, question_title, option_key, answer_count}

    @property
    def labels_lost(self) -> int:
        return sum(item["label_count"] for item in self.removed_classes)

    @property
    def answers_lost(self) -> int:
        return sum(item["answer_count"] for item in self.removed_questions + self.removed_options)

    @property
    def loses_work(self) -> bool:
        return bool(self.labels_lost or self.answers_lost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed_classes": self.removed_classes,
            "removed_questions": self.removed_questions,
            "removed_options": self.removed_options,
            "labels_lost": self.labels_lost,
            "answers_lost": self.answers_lost,
            "loses_work": self.loses_work,
        }


def label_config_change_impact(*, configuration: LabelConfiguration, new_entries: Any) -> ConfigChangeImpact:
    """What `label_config_save(entries=new_entries)` would lose: labels of removed classes (with
    their nested labels), answers of removed questions (or questions whose key changes) and answers
    that chose a removed option. Raises ValidationFailed for an invalid configuration."""
    from django.db.models import Count

    from projects.models import CLASSIFICATION_TYPES, GEOMETRY_TYPES, LabelEntry

    specs = _raise_if_invalid(new_entries)
    planned, removed = _label_config_plan(configuration=configuration, specs=specs)
    rows = list(LabelEntry.objects.filter(configuration=configuration).annotate(label_count=Count("labels")))
    by_id = {row.id: row for row in rows}
    removed_ids = {row.id for row in removed}
    removed_classes = [
        {"key": row.key, "title": row.title, "type": row.type, "label_count": row.label_count}
        for row in rows
        if row.id in removed_ids and row.type in GEOMETRY_TYPES
    ]
    removed_questions: list[dict[str, Any]] = []
    removed_options: list[dict[str, Any]] = []
    kept = {item.existing.id: item for item in planned if item.existing is not None}
    for row in rows:
        if row.type not in CLASSIFICATION_TYPES:
            continue
        anchor, key_path = _anchor_and_path(row, by_id)
        if anchor is not None and anchor.id in removed_ids:
            continue  # its answers go with the labels of the removed class, counted there
        item = kept.get(row.id)
        if item is None or _key_path_changed(item, row, by_id):
            count = _answers_in(configuration, anchor, key_path, None)
            removed_questions.append({"key": row.key, "title": row.title, "answer_count": count})
            continue
        new_keys = {option.key for option in item.spec.options}
        for option in row.options:
            if option["key"] not in new_keys:
                count = _answers_in(configuration, anchor, key_path, {option["key"]})
                removed_options.append(
                    {
                        "question_key": row.key,
                        "question_title": row.title,
                        "option_key": option["key"],
                        "option_label": option.get("label", option["key"]),
                        "answer_count": count,
                    }
                )
    return ConfigChangeImpact(
        removed_classes=removed_classes, removed_questions=removed_questions, removed_options=removed_options
    )


def _key_path_changed(item: _PlannedEntry, row: Any, by_id: dict[Any, Any]) -> bool:
    """Answers are stored by key: a kept question whose key (or a question ancestor's) changes loses them."""
    from projects.models import GEOMETRY_TYPES

    node: _PlannedEntry | None = item
    current = row
    # Up to the nearest geometry: a label's answers are keyed by question keys, not by its class's key.
    while node is not None and current is not None and current.type not in GEOMETRY_TYPES:
        if node.spec.key.lower() != current.key:
            return True
        node = node.parent
        current = by_id.get(current.parent_id)
    return False


def label_config_save(
    *, configuration: LabelConfiguration, entries: Any, confirm_loss: bool = False, image_field: str | None = None
) -> tuple[LabelConfiguration, ConfigChangeImpact]:
    """Save a new configuration keeping every entry that comes back (schema id, type, parent) with
    its labels. When labels or answers would be lost and `confirm_loss` is false, nothing is saved
    and `Conflict("labels_would_be_lost")` carries the impact in its params. `image_field`, when
    given, is the Label Studio image key that Label Studio imports read by default."""
    from projects import label_config
    from projects.models import LabelEntry

    with transaction.atomic():
        LabelConfiguration.objects.select_for_update().filter(pk=configuration.pk).values_list("pk").get()
        impact = label_config_change_impact(configuration=configuration, new_entries=entries)
        if impact.loses_work and not confirm_loss:
            raise Conflict(
                code="labels_would_be_lost",
                message=(
                    f"This change deletes {impact.labels_lost} label(s) and {impact.answers_lost} answer(s); "
                    "confirm to save it."
                ),
                params=(impact.as_dict(),),
            )
        specs = label_config.label_config_parse(entries=entries)
        planned, removed = _label_config_plan(configuration=configuration, specs=specs)
        LabelEntry.objects.filter(pk__in=[row.pk for row in removed]).delete()
        rows_by_item: dict[int, LabelEntry] = {}
        updates: list[LabelEntry] = []
        for item in planned:  # parents come before their children
            parent_row = rows_by_item[id(item.parent)] if item.parent is not None else None
            fresh = label_config._entry_row(
                item.spec, configuration=configuration, parent=parent_row, position=item.position
            )
            if item.existing is not None:
                row = item.existing
                for name in ("key", "title", "color", "shortcut", "required", "rotatable", "max_length", "position"):
                    setattr(row, name, getattr(fresh, name))
                # An option that keeps its key keeps its schema id.
                old_ids = {option["key"]: option.get("schema_id") for option in row.options}
                row.options = [
                    {**option, "schema_id": old_ids.get(option["key"]) or option["schema_id"]}
                    if not _spec_option_schema_id(item.spec, option["key"])
                    else option
                    for option in fresh.options
                ]
                updates.append(row)
            else:
                row = fresh
                row.save(force_insert=True)
            rows_by_item[id(item)] = row
        if updates:
            LabelEntry.objects.bulk_update(
                updates,
                ["key", "title", "color", "shortcut", "required", "rotatable", "max_length", "position", "options"],
            )
        fields = ["updated_at"]
        if image_field is not None:
            configuration.image_field = image_field
            fields.append("image_field")
        configuration.save(update_fields=fields)
    return configuration, impact


def _spec_option_schema_id(spec: Any, key: str) -> str | None:
    return next((option.schema_id for option in spec.options if option.key == key), None)


def media_s3_presigned_url(*, media: Media, expires_in: int = 3600) -> str:
    """A short-lived URL for an S3-source media (``s3://bucket/key``), signed with our credentials.

    The key is checked against the organisation's S3 sources again here, when it counts: a
    media added before the rule, restored from a backup, or whose source the operator withdrew
    is refused rather than signed.
    """
    import boto3  # imported here: only S3-source media need it

    bucket, _, key = media.url.removeprefix("s3://").partition("/")
    source = s3_source_of(organization_id=media.organization_id, bucket=bucket, key=key)
    if source is None:
        raise PermissionDenied(
            code="s3_source_not_allowed",
            message=(
                f"The image of {media.name!r} is outside the S3 sources of its organisation, so it is not shown; "
                f"ask the operator to add its bucket and prefix to {S3_SOURCES_SETTING}, or delete the media."
            ),
        )
    client = boto3.client("s3", endpoint_url=source.endpoint_url, region_name=source.region_name)
    url: str = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in)
    return url
