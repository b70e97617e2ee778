"""The S3 buckets and prefixes each organisation may add media from (`LABELSITE_S3_SOURCES`).

An S3 media is shown through a URL signed with the server's own credentials, so whoever may
name a key may read it. The operator therefore lists the places each organisation may name:

    LABELSITE_S3_SOURCES='{"acme-photos": {"bucket": "photos", "prefix": "acme/",
                           "endpoint_url": "https://minio.example.com", "region_name": "eu-west-1",
                           "organizations": ["<org id>"]}}'

`prefix` is a folder (a trailing `/` is implied; empty means the whole bucket), `endpoint_url`
and `region_name` default to `AWS_S3_ENDPOINT_URL` and `AWS_S3_REGION_NAME`, and
`organizations` holds organisation ids or `"*"`. The app's own storages (every organisation's
uploads, thumbnails, import and export files) are never a source, even if one names them: a
key inside their bucket and location is refused whatever the sources say. The rule is asked
when media are added (`projects.services.media_create_from_s3`) and again when one is shown
(`media_s3_presigned_url`), so a media added before the rule or after the operator withdrew a
source signs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

S3_SOURCES_SETTING = "LABELSITE_S3_SOURCES"
#: S3's rules for bucket names, roughly: 3-63 lower-case letters, digits, dots and hyphens.
S3_BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _folder(prefix: str) -> str:
    """A prefix as a folder: `acme` means `acme/`, so that it never covers `acme-private/`."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


@dataclass(frozen=True)
class S3Source:
    name: str
    bucket: str
    prefix: str  # "" (the whole bucket) or a folder ending in "/"
    endpoint_url: str | None
    region_name: str | None
    organizations: frozenset[str]

    def permits(self, organization_id: Any) -> bool:
        return "*" in self.organizations or str(organization_id) in self.organizations

    def holds(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def describe(self) -> str:
        return f"bucket {self.bucket!r}, prefix {self.prefix!r}" if self.prefix else f"bucket {self.bucket!r}"


@dataclass(frozen=True)
class StorageArea:
    """Where one of the app's own storages keeps its files: never a source."""

    bucket: str
    location: str  # a folder ending in "/", or "" for the whole bucket

    def holds(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.location)


def _source(name: str, entry: Any) -> S3Source:
    where = f"{S3_SOURCES_SETTING}[{name!r}]"
    if not isinstance(entry, Mapping):
        raise ImproperlyConfigured(f"{where} must be an object with bucket, prefix and organizations.")
    bucket = entry.get("bucket")
    if not isinstance(bucket, str) or not S3_BUCKET_NAME_RE.fullmatch(bucket):
        raise ImproperlyConfigured(f"{where}: bucket must be an S3 bucket name, not {bucket!r}.")
    prefix = entry.get("prefix") or ""
    organizations = entry.get("organizations") or []
    if not isinstance(prefix, str):
        raise ImproperlyConfigured(f"{where}: prefix must be a string.")
    if not isinstance(organizations, list) or not all(isinstance(o, str) for o in organizations):
        raise ImproperlyConfigured(f'{where}: organizations must be a list of organisation ids or "*".')
    return S3Source(
        name=name,
        bucket=bucket,
        prefix=_folder(prefix),
        endpoint_url=entry.get("endpoint_url") or getattr(settings, "AWS_S3_ENDPOINT_URL", None) or None,
        region_name=entry.get("region_name") or getattr(settings, "AWS_S3_REGION_NAME", None) or None,
        organizations=frozenset(organizations),
    )


def s3_sources() -> list[S3Source]:
    """Every configured source, by name; a malformed entry raises ImproperlyConfigured."""
    configured = getattr(settings, S3_SOURCES_SETTING, None) or {}
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f"{S3_SOURCES_SETTING} must be a JSON object of named sources.")
    return [_source(str(name), configured[name]) for name in sorted(configured)]


def s3_sources_for(*, organization_id: Any) -> list[S3Source]:
    return [source for source in s3_sources() if source.permits(organization_id)]


def app_storage_areas() -> list[StorageArea]:
    """The buckets and locations of the app's own storages (`STORAGES`, any alias)."""
    areas = []
    for config in getattr(settings, "STORAGES", {}).values():
        options = config.get("OPTIONS") or {}
        bucket = options.get("bucket_name")
        if bucket:
            areas.append(StorageArea(bucket=str(bucket), location=_folder(str(options.get("location") or ""))))
    return areas


def s3_key_shape_problem(key: str) -> str | None:
    """Why a key cannot be referenced whatever the sources: one a URL or a server could read as
    another key (`.`/`..` segments, empty segments, backslashes, control characters)."""
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in key):
        return "it holds a backslash or a control character"
    segments = key.split("/")
    if any(segment in {".", ".."} for segment in segments) or "" in segments[:-1]:
        return "it holds an empty, '.' or '..' path segment"
    return None


def s3_source_of(*, organization_id: Any, bucket: str, key: str) -> S3Source | None:
    """The organisation's source that holds `bucket`/`key` (the first by name), or None when no
    source does, the key is inside one of the app's own storages, or its shape is refused."""
    if s3_key_shape_problem(key) is not None:
        return None
    if any(area.holds(bucket, key) for area in app_storage_areas()):
        return None
    return next(
        (s for s in s3_sources_for(organization_id=organization_id) if s.bucket == bucket and s.holds(key)),
        None,
    )


def s3_sources_described(sources: Iterable[S3Source]) -> str:
    return "; ".join(f"{source.name!r} ({source.describe()})" for source in sources)
