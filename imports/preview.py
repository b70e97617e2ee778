"""The preview of an import: the first few valid items with the shapes they would write.

An admin looks at it before confirming, to catch swapped coordinates or a class mix-up
while nothing is written yet. It is small by construction: at most `PREVIEW_ITEMS` items,
`PREVIEW_SHAPES` shapes per item, and it is stored in the job's `summary["preview"]` as

    [{"item": 3, "task_id": "...", "media_id": "...", "shape_count": 12, "truncated": false,
      "shapes": [{"key": "car", "type": "polygon", "color": "#4a90e2", "points": [[x, y], ...]}]}]

Two ways in, with the same result:
- `PreviewCollector`, which a validate phase can feed the items it checks anyway
  (`collector.add(item)`, then `collector.result()`);
- `preview_get(job=...)`, which reads the stored preview or, for a job past validation that
  has none, builds it by streaming the start of the file through the pipeline's own
  `items_check` (at most `PREVIEW_SCAN_LIMIT` items are read) and stores it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import transaction

from formats import format_get
from formats.reading import FileError
from imports.models import ImportJob, ImportStatus
from imports.pipeline import CheckedItem, MediaCreation, MediaMatcher, items_check
from labeling.annotation import Shape
from labeling.models import Task
from labelsite.netguard import url_shape_problem
from projects.label_config import label_config_index
from projects.media_urls import media_image_url
from projects.models import LabelConfiguration, LabelEntry, Media

PREVIEW_ITEMS = 6
PREVIEW_SHAPES = 200
#: Items read at most to find the preview items (a file whose start is invalid shows fewer).
PREVIEW_SCAN_LIMIT = 500
#: Shapes without a colour in the configuration get one of these, by the class's position.
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324")

#: The statuses in which the whole file has been validated once.
_PAST_VALIDATION = (
    ImportStatus.VALIDATED,
    ImportStatus.WRITING,
    ImportStatus.SUCCEEDED,
    ImportStatus.FAILED,
    ImportStatus.CANCELLED,
)


def entry_colors(*, configuration: LabelConfiguration) -> dict[str, str]:
    """Colour of each entry (by id, as a string), one query; a palette colour where none is set."""
    colors: dict[str, str] = {}
    rows = LabelEntry.objects.filter(configuration=configuration).order_by("position").values_list("id", "color")
    for position, (entry_id, color) in enumerate(rows):
        colors[str(entry_id)] = color or PALETTE[position % len(PALETTE)]
    return colors


def _flatten(shapes: list[Shape]) -> list[Shape]:
    flat: list[Shape] = []
    for shape in shapes:
        flat.append(shape)
        flat.extend(_flatten(shape.children))
    return flat


class PreviewCollector:
    """Keeps the first `limit` writable items in the preview's JSON form."""

    def __init__(self, *, colors: dict[str, str], limit: int = PREVIEW_ITEMS) -> None:
        self.colors = colors
        self.limit = limit
        self.items: list[dict[str, Any]] = []

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add(self, item: CheckedItem) -> bool:
        """Take the item if it is writable and the preview is not full; True when taken."""
        if self.full or not item.writable or item.annotation is None:
            return False
        shapes = _flatten(item.annotation.shapes)
        new = item.new_media if item.task_id is None else None
        self.items.append(
            {
                "item": item.index,
                "task_id": str(item.task_id) if item.task_id is not None else "",
                # A media the import will create: shown from its URL, named as it will be.
                **(
                    {"new_media": {"name": new.media_name(), "url": new.url, "width": new.width, "height": new.height}}
                    if new is not None
                    else {}
                ),
                "shape_count": len(shapes),
                "truncated": len(shapes) > PREVIEW_SHAPES,
                "shapes": [
                    {
                        "key": shape.key,
                        "type": shape.type,
                        "color": self.colors.get(shape.entry_id or "", PALETTE[0]),
                        "points": shape.points,
                        # A turned rectangle (degrees clockwise about its top-left corner).
                        **({"rotation": shape.rotation} if shape.rotation else {}),
                    }
                    for shape in shapes[:PREVIEW_SHAPES]
                ],
            }
        )
        return True

    def result(self) -> list[dict[str, Any]]:
        """The preview items, each with its `media_id` (one query for all)."""
        task_ids = [item["task_id"] for item in self.items if item["task_id"]]
        media_of = {
            str(pk): str(media_id)
            for pk, media_id in Task.objects.filter(pk__in=task_ids).values_list("pk", "media_id")
        }
        return [{**item, "media_id": media_of.get(item["task_id"], "")} for item in self.items]


def preview_build(*, job: ImportJob, limit: int = PREVIEW_ITEMS) -> list[dict[str, Any]]:
    """The preview of a job's file, read from its start (writes nothing)."""
    fmt = format_get(name=job.format)
    configuration = job.project.label_configuration
    config = label_config_index(configuration=configuration)
    collector = PreviewCollector(colors=entry_colors(configuration=configuration), limit=limit)
    matcher = MediaMatcher(project_id=job.project_id, match_by=job.options.get("match_by", "id"))
    creation = MediaCreation.for_job(job, fmt)
    with job.file.storage.open(str(job.file.name), "rb") as file:
        raw_items = fmt.items(file, options=job.options)
        checked = items_check(
            raw_items, fmt=fmt, config=config, matcher=matcher, options=job.options, creation=creation
        )
        # A file error (bad JSON) is the validation report's business; the preview shows what came before.
        with contextlib.suppress(FileError):
            for position, item in enumerate(checked):
                collector.add(item)
                if collector.full or position + 1 >= PREVIEW_SCAN_LIMIT:
                    break
    return collector.result()


def preview_get(*, job: ImportJob) -> list[dict[str, Any]]:
    """The job's stored preview; built and stored once the job is past validation; else empty."""
    stored = job.summary.get("preview") if isinstance(job.summary, dict) else None
    if isinstance(stored, list):
        return stored
    if job.status not in _PAST_VALIDATION or job.items_total is None or not job.file:
        return []
    preview = preview_build(job=job)
    with transaction.atomic():
        # Merge into the current summary: the pipeline may have written it since `job` was read.
        current = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("summary", flat=True).first()
        summary = dict(current or {})
        summary["preview"] = preview
        ImportJob.objects.filter(pk=job.pk).update(summary=summary)
    job.summary = summary
    return preview


#: What the preview says of an item whose media the import creates, while its image cannot be shown.
IMAGE_NOT_KNOWN = "Image not known yet: the import creates this media when it writes."


def _new_media_image_url(url: str) -> str:
    """A media the import will create is shown from its source URL only if that is one we would
    ever store (labelsite.netguard's rules: http(s), no credentials, no loopback or private address
    unless allow-listed); the browser of an admin must not be made to probe their network."""
    if not url or url_shape_problem(url) is not None:
        return ""
    return url


def preview_for_display(*, preview: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The preview items with their media's name, image URL and size (one query).

    An existing media is shown at its one address (`projects.media_urls`: `/media/<id>/file`, a URL
    media's own URL); a media the import will create from its source URL when that is safe, else
    with `image_note` saying that its image is not known yet."""
    media_ids = [str(item["media_id"]) for item in preview if item.get("media_id")]
    media = {str(m.pk): m for m in Media.objects.filter(pk__in=media_ids)}
    shown = []
    for item in preview:
        found = media.get(str(item.get("media_id")))
        new = item.get("new_media") or {}
        if found is not None:
            name, url, width, height = (
                found.name,
                media_image_url(media_id=found.pk, source=found.source, url=found.url),
                found.width,
                found.height,
            )
        else:
            name = f"{new['name']} (new)" if new else ""
            url, width, height = _new_media_image_url(new.get("url") or ""), new.get("width"), new.get("height")
        note = "" if url else IMAGE_NOT_KNOWN
        shown.append(
            {**item, "media_name": name, "image_url": url, "image_note": note, "width": width, "height": height}
        )
    return shown
