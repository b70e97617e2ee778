"""Model servers: connect, check, pre-label in the background, ask interactively, accept in bulk.

The protocol is Label Studio's ML backend protocol (../shared/reference/ml-backend.md, section 7
lists what a client must do); `ml.client` makes the calls. What we send:

- /setup: `project` as the string `"<project id>.<created_at seconds>"` (v2 backends split it),
  the configuration as Label Studio XML (`projects.config_converters.label_config_to_ls_xml`),
  `hostname` (our public base) and `access_token` (the connection's read-only media token,
  `ml.tokens`), which v1 backends' `get_local_path` uses to download images;
- /predict: tasks in Label Studio's task shape whose `data.<image field>` is an absolute URL
  under `hostname` (`/api/ml/media/<media id>/<name>`, answered by `ml.api.MlMediaFileApi` to the
  token), `params` always an object.

Answers are read by the Label Studio import reader (`formats.label_studio.convert`): the same
conversion (percent to pixels, RLE to polygons, labels to classes) and the same validation
against the configuration; an answer that does not fit is a located error on the job, and
the task's other answers are still written. Predictions are stored by
`labeling.services.predictions_write_batch`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from formats import label_studio
from formats.reading import corners_to_rectangle
from labeling.annotation import MediaAnnotation, Shape
from labeling.models import Label, LabelSource, Task, TaskState
from labeling.services import predictions_accept, predictions_write_batch
from labelsite.errors import Conflict, ErrorDetail, NotFound, ValidationFailed
from labelsite.netguard import url_check
from labelsite.queue import task_publish
from ml.client import BackendError, health_get, ml_allowlist, predict_post, setup_post
from ml.models import (
    ACTIVE_STATUSES,
    BackendState,
    JobStatus,
    MLBackend,
    PredictionAcceptJob,
    PrelabelJob,
    PrelabelScope,
)
from ml.tokens import media_token_make
from projects.config_converters import label_config_to_ls_xml, ls_class_controls
from projects.label_config import LabelConfigIndex, label_config_hold, label_config_index
from projects.media_urls import site_url as media_site_url
from projects.models import LabelConfiguration, Project

logger = logging.getLogger(__name__)

PRELABEL_JOB_RUN = "ml.prelabel_job_run"
ACCEPT_JOB_RUN = "ml.prediction_accept_job_run"
#: A running job without a heartbeat for this long is taken to be dead and may be claimed again.
STALE_AFTER = timedelta(minutes=5)
#: The most tasks one pre-label job takes (a task browser selection, or the tasks without labels).
MAX_JOB_TASKS = 200_000
#: Located errors a job keeps (the count of failed tasks is exact).
ERRORS_KEPT = 100
#: Calls of one batch: the first and up to three retries, waiting 0.5, 1, 2 s (transient failures only).
CALL_ATTEMPTS = 4
BACKOFF_SECONDS = 0.5
#: A job stops when this many batches in a row failed (the server is gone, not one bad task).
FAILED_BATCHES_STOP = 5
#: Limits of a connection's settings.
MAX_CONCURRENCY = 16
MAX_BATCH_SIZE = 500
MAX_TIMEOUT_SECONDS = 600.0
#: The parts of a Label Studio task we send besides id, data and project.
_TASK_EXTRAS: dict[str, Any] = {"meta": {}, "annotations": [], "predictions": [], "is_labeled": False}

# --- connections ---------------------------------------------------------------------------------


def _url_clean(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed(
            code="invalid",
            message="Give the model server's URL, e.g. http://models.internal:9090.",
            details=[ErrorDetail("url", "required", "The model server's URL (http or https) is required.")],
        )
    url = url.strip().rstrip("/")
    if len(url) > 2048:
        raise ValidationFailed(
            code="invalid",
            message="The URL is longer than 2048 characters.",
            details=[ErrorDetail("url", "too_long", "At most 2048 characters.")],
        )
    try:
        url_check(url, allowlist=ml_allowlist())
    except ValidationFailed as exc:
        raise ValidationFailed(
            code="url_refused",
            message=f"{exc.message} A model server on an internal host is connected once an operator lists the "
            "host in LABELSITE_ML_HOST_ALLOWLIST.",
            details=[ErrorDetail("url", exc.code, exc.message)],
        ) from exc
    return url


def _header_clean(name: Any, value: Any) -> tuple[str, str]:
    name = (name or "").strip() if isinstance(name, str) else ""
    value = value if isinstance(value, str) else ""
    if not value:
        return ("", "")
    name = name or "Authorization"
    problems = []
    if len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        problems.append(ErrorDetail("auth_header_name", "invalid", "A header name is letters, digits, - and _."))
    if len(value) > 2048 or any(c in value for c in "\r\n\0"):
        problems.append(
            ErrorDetail("auth_header_value", "invalid", "A header value is one line of at most 2048 characters.")
        )
    if problems:
        raise ValidationFailed(code="invalid", message="The auth header is not valid.", details=problems)
    return name, value


def _limits_clean(fields: dict[str, Any]) -> dict[str, Any]:
    limits = {
        "max_concurrency": (int, 1, MAX_CONCURRENCY),
        "batch_size": (int, 1, MAX_BATCH_SIZE),
        "timeout_seconds": (float, 1.0, MAX_TIMEOUT_SECONDS),
    }
    cleaned: dict[str, Any] = {}
    problems = []
    for name, (kind, low, high) in limits.items():
        if name not in fields or fields[name] is None:
            continue
        value = fields[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            problems.append(ErrorDetail(name, "out_of_range", f"{name} is a number from {low} to {high}."))
            continue
        cleaned[name] = kind(value)
    if problems:
        raise ValidationFailed(code="invalid", message="A limit of the connection is out of range.", details=problems)
    return cleaned


def backend_create(
    *,
    project: Project,
    url: Any,
    title: str = "",
    auth_header_name: str = "",
    auth_header_value: str = "",
    interactive: bool = False,
    created_by: Any = None,
    site_url: str = "",
    **limits: Any,
) -> MLBackend:
    """Connect a model server to a project: the URL passes the URL guard, then the server is
    asked for its health and model version (a server that is down is connected and shown down)."""
    clean_url = _url_clean(url)
    name, value = _header_clean(auth_header_name, auth_header_value)
    backend = MLBackend(
        project=project,
        url=clean_url,
        title=(title or "").strip()[:128] or clean_url[:128],
        auth_header_name=name,
        auth_header_value=value,
        interactive=bool(interactive),
        created_by=created_by if getattr(created_by, "pk", None) else None,
        site_url=site_url[:512],
        timeout_seconds=float(settings.LABELSITE_ML_PREDICT_TIMEOUT_SECONDS),
        **_limits_clean(limits),
    )
    try:
        with transaction.atomic():
            backend.save()
    except IntegrityError:
        raise ValidationFailed(
            code="already_connected",
            message="This model server is connected to the project already.",
            details=[ErrorDetail("url", "already_connected", "This URL is connected already.")],
        ) from None
    return backend_check(backend=backend)


def backend_update(*, backend: MLBackend, **fields: Any) -> MLBackend:
    """Change a connection's title, auth header, interactive flag or limits (its URL stays)."""
    changed: list[str] = []
    if "title" in fields and isinstance(fields["title"], str) and fields["title"].strip():
        backend.title = fields["title"].strip()[:128]
        changed.append("title")
    if "auth_header_value" in fields:
        backend.auth_header_name, backend.auth_header_value = _header_clean(
            fields.get("auth_header_name"), fields["auth_header_value"]
        )
        changed += ["auth_header_name", "auth_header_value"]
    if "interactive" in fields and fields["interactive"] is not None:
        backend.interactive = bool(fields["interactive"])
        changed.append("interactive")
    for name, value in _limits_clean(fields).items():
        setattr(backend, name, value)
        changed.append(name)
    if changed:
        backend.save(update_fields=[*changed, "updated_at"])
    return backend


def backend_delete(*, backend: MLBackend) -> None:
    """Disconnect: the server's token stops working; its jobs go; its predictions stay."""
    backend.delete()


def backend_token_rotate(*, backend: MLBackend) -> MLBackend:
    """A new media token: the one the server holds stops working (it gets the new one at /setup)."""
    backend.token_nonce = MLBackend._meta.get_field("token_nonce").get_default()
    backend.save(update_fields=["token_nonce", "updated_at"])
    return backend


def backend_media_token(*, backend: MLBackend) -> str:
    return media_token_make(backend_id=backend.id, nonce=backend.token_nonce)


def _hostname(backend: MLBackend) -> str:
    return media_site_url() or backend.site_url.rstrip("/")


def _ls_project(project: Project) -> str:
    """`project` of /setup and /predict: Label Studio's `"<id>.<created seconds>"`, a string."""
    return f"{project.pk}.{int(project.created_at.timestamp())}"


@dataclass
class _Context:
    """What every call of a connection needs, built once per job or request."""

    backend: MLBackend
    project: Project
    index: LabelConfigIndex
    stamp: Any
    schema: str
    image_field: str
    hostname: str
    ls_project: str
    version: str = ""


def _context(backend: MLBackend, project: Project) -> _Context:
    configuration = LabelConfiguration.objects.filter(project=project).first()
    if configuration is None:
        raise Conflict(code="no_configuration", message="The project has no label configuration; set one up first.")
    index = label_config_index(configuration=configuration)
    image_field = configuration.image_field or "image"
    return _Context(
        backend=backend,
        project=project,
        index=index,
        stamp=configuration.updated_at,
        schema=label_config_to_ls_xml(index, image_field=image_field),
        image_field=image_field,
        hostname=_hostname(backend),
        ls_project=_ls_project(project),
    )


def _setup(context: _Context) -> str:
    version = setup_post(
        context.backend,
        project=context.ls_project,
        schema=context.schema,
        hostname=context.hostname,
        access_token=backend_media_token(backend=context.backend),
    )
    context.version = version
    return version


def backend_check(*, backend: MLBackend) -> MLBackend:
    """Ask the server for its health (GET /health) and model version (POST /setup); record both."""
    health = health_get(backend)
    state, message, version = BackendState.DOWN, health.message, backend.model_version
    if health.up:
        try:
            version = _setup(_context(backend, backend.project))
            state, message = BackendState.UP, health.message
        except BackendError as exc:
            message = f"/health answered, but /setup failed: {exc.message}"
        except Conflict as exc:
            state, message = BackendState.UP, exc.message
    MLBackend.objects.filter(pk=backend.pk).update(
        state=state, state_message=message[:500], model_version=version, checked_at=timezone.now()
    )
    backend.refresh_from_db()
    return backend


# --- what we send ---------------------------------------------------------------------------


def media_path(*, media_id: Any, name: str) -> str:
    """The path a model server fetches a media's image at (with its token)."""
    safe = quote(name.replace("/", "_").strip() or "image", safe="._-")[:120]
    return reverse("ml-media-file", kwargs={"media_id": media_id, "name": safe})


@dataclass(frozen=True)
class _TaskRow:
    id: UUID
    media_id: UUID
    name: str
    width: int | None
    height: int | None


def _task_rows(task_ids: Sequence[UUID], project_id: UUID) -> list[_TaskRow]:
    """The tasks of a batch with their media, in the given order (one query); gone tasks left out."""
    found = {
        row["id"]: row
        for row in Task.objects.filter(pk__in=list(task_ids), project_id=project_id).values(
            "id", "media_id", "media__name", "media__width", "media__height"
        )
    }
    return [
        _TaskRow(row["id"], row["media_id"], row["media__name"], row["media__width"], row["media__height"])
        for task_id in task_ids
        if (row := found.get(task_id)) is not None
    ]


def _ls_task(context: _Context, row: _TaskRow) -> dict[str, Any]:
    url = f"{context.hostname}{media_path(media_id=row.media_id, name=row.name)}"
    return {
        "id": str(row.id),
        "data": {context.image_field: url},
        "project": context.ls_project,
        **_TASK_EXTRAS,
    }


# --- what comes back ------------------------------------------------------------------------


def _scaled(points: Any, sx: float, sy: float) -> Any:
    if points and isinstance(points[0], int | float):
        return [points[0] * sx, points[1] * sy]
    return [_scaled(p, sx, sy) for p in points]


def _relocated(detail: ErrorDetail, task_id: UUID) -> ErrorDetail:
    # The reader locates in a task of its own ("/0/predictions/1/result/2/value"); we name ours.
    path = detail.path[3:] if detail.path.startswith("/0/") else detail.path
    return ErrorDetail(path=f"task {task_id}: {path}", code=detail.code, message=detail.message)


def answer_convert(
    context: _Context, row: _TaskRow, answer: Any, *, fallback_version: str
) -> tuple[MediaAnnotation | None, list[ErrorDetail]]:
    """One task's answer (a prediction object, or a list of them) as shapes in pixels with source
    `prediction`, through the Label Studio reader; located errors when it does not fit."""
    predictions = answer if isinstance(answer, list) else [answer]
    made: list[Any] = []
    for position, prediction in enumerate(predictions):
        if not isinstance(prediction, dict) or not isinstance(prediction.get("result"), list):
            return None, [
                ErrorDetail(
                    f"task {row.id}: predictions/{position}",
                    "invalid_prediction",
                    'A prediction is an object with a "result" list (Label Studio\'s prediction format).',
                )
            ]
        version = prediction.get("model_version")
        made.append({**prediction, "model_version": fallback_version if version in (None, "") else str(version)})
    item = {"data": {context.image_field: f"{row.media_id}"}, "predictions": made}
    # The import's schema check first: the converter expects its shape (results with a type ...).
    shape_errors = label_studio.ITEM.errors(item, prefix=(0,))
    if shape_errors:
        return None, [_relocated(e, row.id) for e in shape_errors]
    converted = label_studio.convert(item, context.index, options={"image_field": context.image_field})
    errors = [_relocated(e, row.id) for e in converted.errors]
    annotation = converted.annotation
    if annotation is None:
        return None, errors
    if converted.media_scale is not None:
        if not row.width or not row.height:
            return None, [
                *errors,
                ErrorDetail(
                    f"task {row.id}: {converted.media_scale.path[3:]}",
                    "missing_original_size",
                    "The region's coordinates are percentages without original_width / original_height, and the "
                    "image's size is not known yet; answer with original_width and original_height.",
                ),
            ]
        sx, sy = row.width / 100.0, row.height / 100.0
        for shape in converted.media_scale.shapes:
            shape.points = _scaled(shape.points, sx, sy)
        for shape, _place in converted.media_scale.corner_boxes:
            corners_to_rectangle(shape)
    for shape in _walk(annotation.shapes):
        shape.source = LabelSource.PREDICTION
    return annotation, errors


def _walk(shapes: list[Shape]) -> list[Shape]:
    out: list[Shape] = []
    stack = list(shapes)
    while stack:
        shape = stack.pop()
        out.append(shape)
        stack.extend(shape.children)
    return out


# --- pre-labelling jobs ----------------------------------------------------------------------


def _task_ids_clean(project: Project, raw: Any) -> list[UUID]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(
            code="invalid",
            message="task_ids is a non-empty list of task ids of the project.",
            details=[ErrorDetail("task_ids", "required", "Give at least one task id.")],
        )
    if len(raw) > MAX_JOB_TASKS:
        raise ValidationFailed(
            code="too_many_tasks",
            message=f"A job takes at most {MAX_JOB_TASKS} tasks; split the selection.",
            details=[ErrorDetail("task_ids", "too_many", f"At most {MAX_JOB_TASKS} ids.")],
        )
    ids: list[UUID] = []
    problems: list[ErrorDetail] = []
    for position, value in enumerate(raw):
        try:
            ids.append(UUID(str(value)))
        except ValueError:
            problems.append(ErrorDetail(f"task_ids/{position}", "invalid", f"{value!r} is not a task id."))
    if not problems:
        ids = list(dict.fromkeys(ids))
        known: set[UUID] = set()
        for start in range(0, len(ids), 5000):
            known.update(
                Task.objects.filter(project=project, pk__in=ids[start : start + 5000]).values_list("pk", flat=True)
            )
        problems = [
            ErrorDetail(f"task_ids/{position}", "not_found", f"{task_id} is not a task of this project.")
            for position, task_id in enumerate(ids)
            if task_id not in known
        ][:ERRORS_KEPT]
    if problems:
        raise ValidationFailed(code="invalid", message="Some task ids are not tasks of the project.", details=problems)
    return ids


def prelabel_job_create(
    *, backend: MLBackend, scope: str = PrelabelScope.UNLABELED, task_ids: Any = None, created_by: Any = None
) -> PrelabelJob:
    """Queue a pre-label job: `scope` `unlabeled` (every open task without labels, found when it
    starts) or `tasks` (the listed `task_ids`, e.g. the task browser's selection). One job at a
    time per connection (Conflict `job_running` otherwise); the worker starts once this commits."""
    if scope not in PrelabelScope.values:
        raise ValidationFailed(
            code="invalid",
            message="scope is 'unlabeled' or 'tasks'.",
            details=[ErrorDetail("scope", "invalid_choice", "Use 'unlabeled' or 'tasks'.")],
        )
    ids = _task_ids_clean(backend.project, task_ids) if scope == PrelabelScope.TASKS else []
    try:
        with transaction.atomic():
            job = PrelabelJob.objects.create(
                backend=backend,
                project_id=backend.project_id,
                scope=scope,
                task_ids=[str(i) for i in ids],
                tasks_total=len(ids),
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
    except IntegrityError:
        raise Conflict(
            code="job_running",
            message="This model server has a pre-label job queued or running; wait for it, or cancel it.",
        ) from None
    job_id = job.pk
    transaction.on_commit(lambda: task_publish(PRELABEL_JOB_RUN, str(job_id)))
    return job


def prelabel_job_cancel(*, job: PrelabelJob) -> PrelabelJob:
    """Ask a job to stop: a queued job stops at once, a running one after the batches in flight."""
    PrelabelJob.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).update(cancel_requested=True)
    PrelabelJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), message="Cancelled before it started."
    )
    job.refresh_from_db()
    return job


def prelabel_job_retry(*, job: PrelabelJob, created_by: Any = None) -> PrelabelJob:
    """A new job for the tasks a finished job got no predictions for (the server failed, or its
    answer did not fit); Conflict `nothing_to_retry` when there are none."""
    if job.status in ACTIVE_STATUSES:
        raise Conflict(code="job_running", message="The job is still running; retry its failed tasks once it ends.")
    live = set(Task.objects.filter(project_id=job.project_id, pk__in=job.failed_task_ids).values_list("pk", flat=True))
    ids = [task_id for task_id in job.failed_task_ids if UUID(task_id) in live]
    if not ids:
        raise Conflict(code="nothing_to_retry", message="The job has no failed tasks left to send again.")
    return prelabel_job_create(backend=job.backend, scope=PrelabelScope.TASKS, task_ids=ids, created_by=created_by)


def _claim(job_id: UUID) -> bool:
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    return bool(
        PrelabelJob.objects.filter(claimable, pk=job_id, cancel_requested=False).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
        )
    )


def _unlabeled_task_ids(project: Project) -> list[UUID]:
    """Open tasks with no label but predictions, in the project's task order."""
    labelled = Label.objects.filter(task=OuterRef("pk")).exclude(source=LabelSource.PREDICTION)
    open_states = [TaskState.BACKLOG, TaskState.WAITING, TaskState.IN_PROGRESS, TaskState.WAITING_CHANGED]
    return list(
        Task.objects.filter(project=project, state__in=open_states, media__deleted_at__isnull=True)
        .filter(~Exists(labelled))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:MAX_JOB_TASKS]
    )


@dataclass
class _BatchOutcome:
    answers: list[tuple[_TaskRow, Any]] = field(default_factory=list)
    errors: list[ErrorDetail] = field(default_factory=list)
    #: The tasks of the batch that got no answer.
    failed: list[UUID] = field(default_factory=list)
    transient: bool = False


def _predict_with_retry(context: _Context, rows: list[_TaskRow], *, stop: threading.Event) -> _BatchOutcome:
    """One /predict call for a batch, retried with backoff on transient failures; a single
    result for several tasks is asked again task by task (as Label Studio does)."""
    tasks = [_ls_task(context, row) for row in rows]
    last: BackendError | None = None
    for attempt in range(CALL_ATTEMPTS):
        if stop.is_set():
            return _BatchOutcome()
        if attempt:
            time.sleep(min(8.0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
        try:
            results, _ = predict_post(context.backend, tasks=tasks, project=context.ls_project, schema=context.schema)
        except BackendError as exc:
            last = exc
            if not exc.transient:
                break
            continue
        if len(results) == len(rows):
            return _BatchOutcome(answers=list(zip(rows, results, strict=True)))
        if len(results) == 1 and len(rows) > 1:
            outcome = _BatchOutcome()
            for row in rows:
                one = _predict_with_retry(context, [row], stop=stop)
                outcome.answers += one.answers
                outcome.errors += one.errors
                outcome.failed += one.failed
            return outcome
        return _BatchOutcome(
            errors=[
                ErrorDetail(
                    f"tasks {rows[0].id} .. {rows[-1].id}",
                    "result_count",
                    f"POST /predict answered {len(results)} results for {len(rows)} tasks; results[i] must "
                    "belong to tasks[i].",
                )
            ],
            failed=[row.id for row in rows],
        )
    assert last is not None
    return _BatchOutcome(
        errors=[
            ErrorDetail(
                f"tasks {rows[0].id} .. {rows[-1].id}",
                "backend_failed",
                f"{last.message} (after {attempt + 1} attempt{'s' if attempt else ''})",
            )
        ],
        failed=[row.id for row in rows],
        transient=last.transient,
    )


def _batch_write(context: _Context, outcome: _BatchOutcome) -> tuple[int, list[ErrorDetail], list[UUID]]:
    """Convert and store a batch's answers; (predictions written, errors, tasks whose answer failed)."""
    for attempt in range(2):
        items: list[tuple[UUID, MediaAnnotation]] = []
        errors: list[ErrorDetail] = []
        failed: list[UUID] = []
        for row, answer in outcome.answers:
            annotation, problems = answer_convert(context, row, answer, fallback_version=context.version)
            errors += problems
            if annotation is None:
                failed.append(row.id)
            elif annotation.shapes or annotation.answers:
                items.append((row.id, annotation))
        if not items:
            return 0, errors, failed
        try:
            written = predictions_write_batch(items=items, project_id=context.project.pk, config_stamp=context.stamp)
        except Conflict:
            if attempt:
                raise
            # The configuration changed: resolve the answers again against the new one.
            fresh = _context(context.backend, context.project)
            fresh.version = context.version
            context.index, context.stamp, context.schema = fresh.index, fresh.stamp, fresh.schema
            continue
        return written.labels, errors, failed
    return 0, [], []


def _progress(job_id: UUID, **fields: Any) -> None:
    PrelabelJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


def prelabel_job_run(*, job_id: UUID) -> PrelabelJob:
    """Run a pre-label job: /health and /setup once, then the tasks in batches of the connection's
    `batch_size`, at most `max_concurrency` /predict calls in flight, each answer stored as soon as
    its batch is done (in order, so the checkpoint is the number of batches done). Cancel is looked
    at after every batch. A rerun (the worker died) resumes after the checkpoint."""
    job = PrelabelJob.objects.select_related("backend", "backend__project").filter(pk=job_id).first()
    if job is None:
        raise NotFound(code="not_found", message="No such pre-label job.", params=("PrelabelJob", "id", str(job_id)))
    if not _claim(job_id):
        job.refresh_from_db()
        return job
    backend = job.backend
    try:
        if job.scope == PrelabelScope.UNLABELED and not job.task_ids and job.checkpoint == 0:
            ids = _unlabeled_task_ids(backend.project)
            job.task_ids = [str(i) for i in ids]
            _progress(job_id, task_ids=job.task_ids, tasks_total=len(ids))
        task_ids = [UUID(i) for i in job.task_ids]
        context = _context(backend, backend.project)
        health = health_get(backend)
        if not health.up:
            raise BackendError(f"The model server is not healthy: {health.message}", transient=True)
        _setup(context)
        _progress(job_id, model_version=context.version)
        _run_batches(job, context, task_ids)
    except (OperationalError, InterfaceError):
        PrelabelJob.objects.filter(pk=job_id).update(status=JobStatus.QUEUED, heartbeat_at=None)
        raise
    except Exception as exc:
        logger.exception("pre-label job %s failed", job_id)
        message = getattr(exc, "message", None) or f"The job failed: {exc}"
        PrelabelJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, message=str(message)[:2000], finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _run_batches(job: PrelabelJob, context: _Context, task_ids: list[UUID]) -> None:
    backend = context.backend
    size = max(1, backend.batch_size)
    batches = [task_ids[start : start + size] for start in range(0, len(task_ids), size)]
    checkpoint = job.checkpoint
    errors: list[dict[str, Any]] = list(job.errors)
    failed_ids: list[str] = list(job.failed_task_ids)
    stop = threading.Event()
    failed_in_a_row = 0
    cancelled = False
    with ThreadPoolExecutor(max_workers=max(1, backend.max_concurrency), thread_name_prefix="ml-predict") as pool:
        pending: deque[tuple[int, Future[_BatchOutcome]]] = deque()
        following = checkpoint

        def submit_more() -> None:
            nonlocal following
            while following < len(batches) and len(pending) < backend.max_concurrency and not stop.is_set():
                rows = _task_rows(batches[following], context.project.pk)
                pending.append((following, pool.submit(_predict_with_retry, context, rows, stop=stop)))
                following += 1

        submit_more()
        while pending:
            number, future = pending.popleft()
            outcome = future.result()
            written, problems, failed = _batch_write(context, outcome)
            problems = outcome.errors + problems
            failed = outcome.failed + failed
            failed_ids += [str(task_id) for task_id in failed]
            failed_in_a_row = failed_in_a_row + 1 if outcome.failed and outcome.transient else 0
            room = ERRORS_KEPT - len(errors)
            if room > 0:
                errors += [p.as_dict() for p in problems[:room]]
            checkpoint = number + 1
            done = sum(len(b) for b in batches[:checkpoint])
            with transaction.atomic():
                row = PrelabelJob.objects.select_for_update().filter(pk=job.pk).values("cancel_requested").get()
                PrelabelJob.objects.filter(pk=job.pk).update(
                    checkpoint=checkpoint,
                    tasks_done=done,
                    tasks_failed=F("tasks_failed") + len(failed),
                    failed_task_ids=failed_ids,
                    predictions_written=F("predictions_written") + written,
                    errors=errors,
                    heartbeat_at=timezone.now(),
                )
            if row["cancel_requested"]:
                cancelled = True
                stop.set()
            if failed_in_a_row >= FAILED_BATCHES_STOP:
                stop.set()
            if not stop.is_set():
                submit_more()
        if failed_in_a_row >= FAILED_BATCHES_STOP:
            raise BackendError(
                f"{FAILED_BATCHES_STOP} batches in a row failed; the last: {errors[-1]['message'] if errors else ''}",
                transient=True,
            )
    job.refresh_from_db()
    status = JobStatus.CANCELLED if cancelled else JobStatus.SUCCEEDED
    message = (
        f"Cancelled after {job.tasks_done} of {job.tasks_total} tasks."
        if cancelled
        else f"{job.tasks_done} tasks sent, {job.predictions_written} predictions stored"
        + (f", {job.tasks_failed} tasks without predictions (see the errors)." if job.tasks_failed else ".")
    )
    PrelabelJob.objects.filter(pk=job.pk).update(status=status, message=message, finished_at=timezone.now())


# --- interactive ---------------------------------------------------------------------------------


def _interactive_context(context: _Context, row: _TaskRow, shape: Any) -> dict[str, Any]:
    """A click or a box as Label Studio's interactive `context`: `{"result": [one result]}` in
    percent, named as the configuration's Label Studio XML names the class."""
    problems: list[ErrorDetail] = []
    if not isinstance(shape, dict):
        raise ValidationFailed(
            code="invalid",
            message="shape is {key, type, points} of a point or a rectangle.",
            details=[ErrorDetail("shape", "invalid", "Give {key, type, points}.")],
        )
    key, kind, points = shape.get("key"), shape.get("type"), shape.get("points")
    entry = context.index.root(str(key).lower()) if isinstance(key, str) else None
    placed = ls_class_controls(context.index).get(entry.id) if entry is not None else None
    if entry is None or placed is None:
        problems.append(ErrorDetail("shape/key", "unknown_class", f"{key!r} is not a class of the configuration."))
    if kind not in ("point", "rectangle"):
        problems.append(ErrorDetail("shape/type", "invalid", "The model is asked with a point or a rectangle."))
    count = 1 if kind == "point" else 2
    try:
        xy = [(float(p[0]), float(p[1])) for p in points] if isinstance(points, list) else []
    except (TypeError, ValueError, IndexError):
        xy = []
    if len(xy) != count:
        problems.append(ErrorDetail("shape/points", "invalid", f"A {kind} has {count} point(s) [[x, y], ...]."))
    if not row.width or not row.height:
        problems.append(ErrorDetail("task", "size_unknown", "The image's size is not known yet; try again shortly."))
    if problems:
        raise ValidationFailed(code="invalid", message=problems[0].message, details=problems)
    assert placed is not None
    assert row.width
    assert row.height
    _tag, from_name, value = placed
    width, height = float(row.width), float(row.height)
    result: dict[str, Any] = {
        "original_width": row.width,
        "original_height": row.height,
        "image_rotation": 0,
        "from_name": from_name,
        "to_name": "image",
        "origin": "manual",
    }
    if kind == "point":
        x, y = xy[0]
        result.update(
            type="keypointlabels",
            is_positive=not bool(shape.get("negative")),
            value={"x": x / width * 100, "y": y / height * 100, "width": 0.32, "keypointlabels": [value]},
        )
    else:
        (x1, y1), (x2, y2) = xy
        result.update(
            type="rectanglelabels",
            value={
                "x": min(x1, x2) / width * 100,
                "y": min(y1, y2) / height * 100,
                "width": abs(x2 - x1) / width * 100,
                "height": abs(y2 - y1) / height * 100,
                "rotation": 0,
                "rectanglelabels": [value],
            },
        )
    return {"result": [result]}


def interactive_predict(*, backend: MLBackend, task: Task, shape: Any) -> dict[str, Any]:
    """Send a click or a box on a task to an interactive server; the regions it answers, as the
    labeling page's labels with source `prediction` (not stored: the page shows them to accept
    or dismiss). Errors: ValidationFailed for the input or an answer that does not fit the
    configuration, Conflict `backend_failed` when the server fails."""
    context = _context(backend, task.project)
    rows = _task_rows([task.pk], task.project_id)
    if not rows:
        raise NotFound(code="not_found", message="No such task.")
    row = rows[0]
    ask = _interactive_context(context, row, shape)
    started = time.monotonic()
    try:
        # v1 backends predict only after a /setup in the same process; v2 ignore it.
        _setup(context)
        results, _ = predict_post(
            backend, tasks=[_ls_task(context, row)], project=context.ls_project, schema=context.schema, context=ask
        )
    except BackendError as exc:
        raise Conflict(code="backend_failed", message=f"The model server failed: {exc.message}") from exc
    if not results:
        raise Conflict(code="backend_empty", message="The model server answered no result for this click or box.")
    annotation, errors = answer_convert(context, row, results[0], fallback_version=context.version)
    if errors or annotation is None:
        raise ValidationFailed(
            code="prediction_not_in_config",
            message="The model's answer does not fit the project's configuration: "
            + (errors[0].message if errors else "no regions."),
            details=errors,
        )
    entries = context.index.entries
    labels = [_shape_json(shape_, entries) for shape_ in annotation.shapes]
    return {
        "labels": labels,
        "model_version": context.version,
        "seconds": round(time.monotonic() - started, 3),
    }


def _shape_json(shape: Shape, entries: dict[str, Any]) -> dict[str, Any]:
    entry = entries.get(shape.entry_id or "")
    return {
        "key": entry.key if entry is not None else shape.key,
        "type": entry.type if entry is not None else shape.type,
        "points": shape.points,
        "rotation": shape.rotation,
        "answers": {},
        "source": LabelSource.PREDICTION,
        "score": shape.score,
        "model_version": shape.model_version,
        "children": [_shape_json(child, entries) for child in shape.children],
    }


# --- accepting predictions in bulk ------------------------------------------------------------

ACCEPT_CHUNK = 2000


def _accept_queryset(job: PredictionAcceptJob) -> Any:
    labels = Label.objects.filter(
        task__project_id=job.project_id, source=LabelSource.PREDICTION, score__gte=job.min_score
    )
    return labels.filter(model_version=job.model_version) if job.model_version else labels


def accept_job_create(
    *, project: Project, min_score: Any, model_version: Any = "", created_by: Any = None
) -> PredictionAcceptJob:
    """Queue the acceptance of every prediction of the project with a score >= `min_score` (of one
    `model_version` when given) as labels; a worker does it in chunks once this commits."""
    if isinstance(min_score, bool) or not isinstance(min_score, int | float) or not 0 <= min_score <= 1:
        raise ValidationFailed(
            code="invalid",
            message="min_score is a number from 0 to 1.",
            details=[ErrorDetail("min_score", "out_of_range", "A score from 0 to 1.")],
        )
    if model_version is not None and not isinstance(model_version, str):
        raise ValidationFailed(
            code="invalid",
            message="model_version is a string.",
            details=[ErrorDetail("model_version", "invalid", "A model version, or empty for all.")],
        )
    job = PredictionAcceptJob.objects.create(
        project=project,
        min_score=float(min_score),
        model_version=(model_version or "")[:128],
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    job_id = job.pk
    transaction.on_commit(lambda: task_publish(ACCEPT_JOB_RUN, str(job_id)))
    return job


def accept_job_run(*, job_id: UUID, on_chunk: Callable[[int], None] | None = None) -> PredictionAcceptJob:
    """Accept the job's predictions, chunk by chunk (ids in ascending order, each chunk one transaction)."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    if not PredictionAcceptJob.objects.filter(claimable, pk=job_id).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    ):
        return PredictionAcceptJob.objects.get(pk=job_id)
    job = PredictionAcceptJob.objects.get(pk=job_id)
    user_id = job.created_by_id
    try:
        total = _accept_queryset(job).count()
        PredictionAcceptJob.objects.filter(pk=job_id).update(predictions_total=total)
        after = 0
        accepted = 0
        while True:
            ids = list(
                _accept_queryset(job).filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:ACCEPT_CHUNK]
            )
            if not ids:
                break
            with transaction.atomic():
                if label_config_hold(project_id=job.project_id) is None:
                    raise Conflict(code="no_configuration", message="The project has no label configuration.")
                accepted += predictions_accept(project_id=job.project_id, label_ids=ids, user_id=user_id)
            after = ids[-1]
            PredictionAcceptJob.objects.filter(pk=job_id).update(accepted=accepted, heartbeat_at=timezone.now())
            if on_chunk is not None:
                on_chunk(accepted)
        PredictionAcceptJob.objects.filter(pk=job_id).update(
            status=JobStatus.SUCCEEDED,
            accepted=accepted,
            message=f"{accepted} predictions accepted as labels.",
            finished_at=timezone.now(),
        )
    except (OperationalError, InterfaceError):
        PredictionAcceptJob.objects.filter(pk=job_id).update(status=JobStatus.QUEUED, heartbeat_at=None)
        raise
    except Exception as exc:
        logger.exception("accept job %s failed", job_id)
        PredictionAcceptJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, message=f"The job failed: {exc}"[:2000], finished_at=timezone.now()
        )
    return PredictionAcceptJob.objects.get(pk=job_id)
