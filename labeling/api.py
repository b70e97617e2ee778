"""The native API of tasks, annotations and labels (under /api/).

One class per operation, combined per URL where two operations share one. Who may do
what is decided by the selectors (`task_get_for_user` reads, `task_get_for_labeling`
writes, `task_get_for_review`, `task_get_for_assign`, `label_get_for_labeling`); that a
task assigned to someone else is theirs (409 `task_held` for annotators) is checked by
every writer in `labeling.services`, which is why writes pass the request's user.

Every annotation write (the whole document, or one label) names the version it edited, as
`version` in the body or an `If-Match` header: a write without one answers 428
`version_required`, and one over a newer version 409, instead of overwriting someone else's
work. (The DataGym v1 facade keeps its own contract and calls the services without one.)

Opening a task to label it reserves it (the pages do that); `heartbeat` renews the
reservation while the page is open and adds the active time it counted; `release` ends it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from labeling import browser_selectors, selectors, services
from labeling.models import Label, Task
from labeling.selectors import TeamFigures
from labeling.serializers import (
    AnnotationDocumentSerializer,
    AnnotationPatchedSerializer,
    AnnotationPatchSerializer,
    LabelCreateInputSerializer,
    LabelingKeysSerializer,
    LabelOutputSerializer,
    LabelUpdateInputSerializer,
    LabelWriteControlSerializer,
    TaskAssignInputSerializer,
    TaskBrowserQuerySerializer,
    TaskBrowserRowSerializer,
    TaskHeartbeatInputSerializer,
    TaskOutputSerializer,
    TaskReviewInputSerializer,
    TaskVersionSerializer,
    TeamFiguresFilterSerializer,
    TeamFiguresSerializer,
)
from labelsite.api import CsvRenderer, error_body
from labelsite.errors import Conflict, ErrorDetail, PreconditionRequired
from labelsite.text import cell_safe
from projects.selectors import project_get_for_user
from projects.serializers import ERRORS, ERRORS_WITH_CONFLICT, ErrorSerializer

IF_MATCH = OpenApiParameter(
    name="If-Match",
    location=OpenApiParameter.HEADER,
    type=OpenApiTypes.STR,
    required=False,
    description="The task version you edited (instead of `version` in the body); one of the two is required.",
)


#: Annotation writes: 428 when they name no version, 409 when it is stale or someone else holds the task.
ERRORS_OF_WRITES: dict[int, Any] = {**ERRORS_WITH_CONFLICT, 428: ErrorSerializer}


def _body_object(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return dict(request.data)


def _expected_version(request: Request, body_version: Any) -> int:
    """The version the client edited: the body's `version`, else the If-Match header; a write
    without either answers 428, since it would overwrite whatever was saved meanwhile."""
    if body_version is not None:
        return int(body_version)
    header = request.headers.get("If-Match", "").strip()
    if not header:
        raise PreconditionRequired(
            code="version_required",
            message="Say which version of the task you edited: send its `version` (from GET "
            "/api/tasks/{id}/annotation) in the body, or an If-Match header with it, e.g. If-Match: 3.",
            details=[
                ErrorDetail(path="version", code="required", message="Give the task version you edited, or If-Match.")
            ],
        )
    value = header.removeprefix("W/").strip('"')
    if not value.isdigit():
        raise exceptions.ValidationError({"If-Match": ["Give the task version, a whole number, e.g. If-Match: 3."]})
    return int(value)


def _task_output(task: Task) -> dict[str, Any]:
    return dict(TaskOutputSerializer(task).data)


# --- tasks ---------------------------------------------------------------------------------


class TaskListPagination(LimitOffsetPagination):
    """limit and offset, as ever, plus a cursor: `next` and `previous` carry the cursor of the page
    after or before (a keyset seek, as cheap deep in the list as at its start) and its offset."""

    default_limit = 100
    max_limit = 500

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "next_cursor or previous_cursor of a page of the same query and sort: the page "
                "after or before it, found by its last or first row (offset is then only the page's number).",
                "schema": {"type": "string"},
            },
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        response = super().get_paginated_response_schema(schema)
        for name in ("next_cursor", "previous_cursor"):
            response["properties"][name] = {"type": "string", "nullable": True}
        return response


class TaskListApi(generics.ListAPIView):
    """The task browser's rows: filters, search and sort as query parameters (see
    `labeling.browser_selectors`), paged with limit and offset or a cursor."""

    serializer_class = TaskBrowserRowSerializer
    pagination_class = TaskListPagination

    @extend_schema(
        operation_id="projects_tasks_list",
        summary="List a project's tasks: filtered, searched, sorted and paged (the task browser)",
        description="Admins and reviewers see every task of the project; annotators only their own (assigned "
        "to them, reserved by them, or completed by them). User filters take user ids, `me` and `none`, "
        "several separated by commas. Each row carries its labels per class (`label_counts`, predictions "
        "apart), its predictions with their lowest and highest score, and the import jobs its labels came "
        "from. An unknown parameter or a bad value answers 400 naming it.",
        parameters=[TaskBrowserQuerySerializer],
        responses={200: TaskBrowserRowSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Task]:
        user: Any = self.request.user
        project = project_get_for_user(user=user, project_id=self.kwargs["project_id"])
        query = browser_selectors.task_query_clean(project=project, raw=self.request.query_params, user=user)
        self.project = project
        return browser_selectors.task_browser_list(project=project, user=user, query=query)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user: Any = request.user
        project = project_get_for_user(user=user, project_id=self.kwargs["project_id"])
        query = browser_selectors.task_query_clean(project=project, raw=request.query_params, user=user)
        paginator = TaskListPagination()
        limit = paginator.get_limit(request) or paginator.default_limit
        page = browser_selectors.task_page_get(
            project=project,
            user=user,
            query=query,
            limit=limit,
            offset=paginator.get_offset(request),
            cursor=request.query_params.get("cursor", ""),
        )
        rows = browser_selectors.task_rows_get(task_ids=page.task_ids)
        extras = browser_selectors.task_rows_extras(project=project, task_ids=[task.pk for task in rows])
        url = request.build_absolute_uri()

        def link(cursor: str | None, offset: int) -> str | None:
            if cursor is None:
                return None
            return replace_query_param(replace_query_param(url, "offset", offset), "cursor", cursor)

        return Response(
            {
                "count": page.count,
                "next": link(page.next_cursor, page.offset + len(page.task_ids)),
                "previous": link(page.previous_cursor, max(0, page.offset - limit)),
                "next_cursor": page.next_cursor,
                "previous_cursor": page.previous_cursor,
                "results": TaskBrowserRowSerializer(rows, many=True, context={"extras": extras}).data,
            }
        )


class TaskGetApi(APIView):
    @extend_schema(operation_id="tasks_get", responses={200: TaskOutputSerializer, **ERRORS})
    def get(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get_for_user(user=request.user, task_id=task_id)
        return Response(_task_output(task))


class TaskAssignApi(APIView):
    @extend_schema(
        operation_id="tasks_assign",
        summary="Assign the task to a user, or to nobody",
        description="Admins assign anyone of the organisation; others may take an open task nobody has, "
        "or give back their own.",
        request=TaskAssignInputSerializer,
        responses={200: TaskOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, task_id: str) -> Response:
        data = TaskAssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task, assignee = selectors.task_get_for_assign(
            user=request.user, task_id=task_id, assignee_id=data.validated_data["user_id"]
        )
        task = services.task_assign(task=task, assignee=assignee)
        return Response(_task_output(task))


class TaskCompleteApi(APIView):
    @extend_schema(
        operation_id="tasks_complete",
        summary="Complete the task (every required question must be answered)",
        request=None,
        responses={200: TaskOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get_for_labeling(user=request.user, task_id=task_id)
        task = services.task_complete_checked(task=task, user=request.user)
        return Response(_task_output(task))


class TaskSkipApi(APIView):
    @extend_schema(
        operation_id="tasks_skip", request=None, responses={200: TaskOutputSerializer, **ERRORS_WITH_CONFLICT}
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get_for_labeling(user=request.user, task_id=task_id)
        task = services.task_skip(task=task, user=request.user)
        return Response(_task_output(task))


class TaskHeartbeatApi(APIView):
    @extend_schema(
        operation_id="tasks_heartbeat",
        summary="Keep the task reserved while it is open, and add the active time spent on it",
        description="Takes or renews the caller's reservation (for LABELSITE_TASK_LEASE_SECONDS) when the task "
        "is open and nobody else holds it. An annotator whose task someone else holds gets 409 `task_held`.",
        request=TaskHeartbeatInputSerializer,
        responses={200: TaskOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        data = TaskHeartbeatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = selectors.task_get_for_presence(user=request.user, task_id=task_id)
        task = services.task_heartbeat(
            task=task, user=request.user, active_seconds=data.validated_data["active_seconds"]
        )
        return Response(_task_output(selectors.task_get_for_user(user=request.user, task_id=task.pk)))


class TaskReleaseApi(APIView):
    @extend_schema(
        operation_id="tasks_release",
        summary="End the task's reservation",
        description="Admins release any task; others only their own reservation.",
        request=None,
        responses={200: TaskOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get_for_release(user=request.user, task_id=task_id)
        task = services.task_release(task=task)
        return Response(_task_output(task))


class TaskReviewNextApi(APIView):
    @extend_schema(
        operation_id="tasks_review_next",
        summary="Reserve the next task to review",
        description=(
            "A completed task not completed by the caller and held by no other reviewer, reserved "
            "for the caller with the labeling lease (renewed by the heartbeat); 204 when none is left."
        ),
        request=None,
        responses={200: TaskOutputSerializer, 204: None, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_review(user=request.user, project_id=project_id)
        task = services.task_review_next_reserve(user=request.user, project=project)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_task_output(task))


class TaskReviewApi(APIView):
    @extend_schema(
        operation_id="tasks_review",
        summary="Review a completed task: accept it, or send it back with a comment",
        request=TaskReviewInputSerializer,
        responses={200: TaskOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, task_id: str) -> Response:
        data = TaskReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = selectors.task_get_for_review(user=request.user, task_id=task_id)
        task = services.task_review(
            task=task, accept=data.validated_data["accept"], comment=data.validated_data["comment"], user=request.user
        )
        return Response(_task_output(task))


# --- the whole annotation --------------------------------------------------------------------


class AnnotationGetApi(APIView):
    @extend_schema(
        operation_id="tasks_annotation_get",
        summary="The task's whole annotation as one document",
        responses={200: AnnotationDocumentSerializer, **ERRORS},
    )
    def get(self, request: Request, task_id: str) -> Response:
        task = selectors.task_get_for_user(user=request.user, task_id=task_id)
        document = selectors.task_annotation_get(task=task)
        return Response(document, headers={"ETag": f'"{document["version"]}"'})


class AnnotationReplaceApi(APIView):
    @extend_schema(
        operation_id="tasks_annotation_replace",
        summary="Replace the task's answers and labels with a document",
        description="Every problem of the document answers 400 with its path; no `version` (nor If-Match) "
        "answers 428, a stale one 409. A label sent back with its `id` keeps its author. `active_seconds` "
        "(optional) adds the time the page was in use since its last report.",
        parameters=[IF_MATCH],
        request=AnnotationDocumentSerializer,
        responses={200: AnnotationDocumentSerializer, **ERRORS_OF_WRITES},
    )
    def put(self, request: Request, task_id: str) -> Response:
        document = _body_object(request)
        control = LabelWriteControlSerializer(
            data={"version": document.get("version"), "active_seconds": document.pop("active_seconds", 0)}
        )
        control.is_valid(raise_exception=True)
        task = selectors.task_get_for_labeling(user=request.user, task_id=task_id)
        expected_version = _expected_version(request, control.validated_data.get("version"))
        stored = services.task_annotation_replace(
            task=task,
            document=document,
            user=request.user,
            expected_version=expected_version,
            active_seconds=control.validated_data.get("active_seconds") or 0,
        )
        return Response(stored, headers={"ETag": f'"{stored["version"]}"'})


class AnnotationPatchApi(APIView):
    @extend_schema(
        operation_id="tasks_annotation_patch",
        summary="Save what changed: labels added, changed and deleted, and the task's answers",
        description="One save of the labeling page, applied at once: `added` (new labels, each with a client "
        "`uid`; a nested one names its parent by id or by the uid of a label added in the same save), `changed` "
        "(by `id`, only the fields sent: key, points, rotation, answers, source, score, model_version), "
        "`deleted` (ids; their nested labels go with them) and `answers` (the task's answers, when sent). "
        "Checked like a whole document (400, every problem with its place in the save); no `version` (nor "
        "If-Match) answers 428, a stale one 409 with the current version (`error.version`). Answers the new "
        "`version` and `ids`, the id each added label got, by uid.",
        parameters=[IF_MATCH],
        request=AnnotationPatchSerializer,
        responses={200: AnnotationPatchedSerializer, **ERRORS_OF_WRITES},
    )
    def patch(self, request: Request, task_id: str) -> Response:
        patch = _body_object(request)
        control = LabelWriteControlSerializer(
            data={"version": patch.pop("version", None), "active_seconds": patch.pop("active_seconds", 0)}
        )
        control.is_valid(raise_exception=True)
        task = selectors.task_get_for_labeling(user=request.user, task_id=task_id)
        expected_version = _expected_version(request, control.validated_data.get("version"))
        try:
            saved = services.task_annotation_patch(
                task=task,
                patch=patch,
                user=request.user,
                expected_version=expected_version,
                active_seconds=control.validated_data.get("active_seconds") or 0,
            )
        except Conflict as conflict:
            if conflict.code != "version_conflict":
                raise
            # The page merges over the current version; say which one it is.
            body = error_body(conflict.code, conflict.message, [d.as_dict() for d in conflict.details])
            body["error"]["version"] = conflict.params[0] if conflict.params else None
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(saved, headers={"ETag": f'"{saved["version"]}"'})


# /api/tasks/{id}/annotation: GET, PUT, PATCH.
class AnnotationApi(AnnotationGetApi, AnnotationReplaceApi, AnnotationPatchApi):
    pass


# --- single labels -------------------------------------------------------------------------


def _label_output(label: Label) -> dict[str, Any]:
    return dict(LabelOutputSerializer(label).data)


class LabelCreateApi(APIView):
    @extend_schema(
        operation_id="tasks_labels_create",
        summary="Add one label (with nested labels) to the task",
        parameters=[IF_MATCH],
        request=LabelCreateInputSerializer,
        responses={201: LabelOutputSerializer, **ERRORS_OF_WRITES},
    )
    def post(self, request: Request, task_id: str) -> Response:
        body = _body_object(request)
        control = LabelWriteControlSerializer(data={k: body.pop(k) for k in ("parent_id", "version") if k in body})
        control.is_valid(raise_exception=True)
        task = selectors.task_get_for_labeling(user=request.user, task_id=task_id)
        expected_version = _expected_version(request, control.validated_data.get("version"))
        label = services.label_create(
            task=task,
            label=body,
            parent_id=control.validated_data.get("parent_id"),
            user=request.user,
            expected_version=expected_version,
        )
        return Response(_label_output(label), status=status.HTTP_201_CREATED)


class LabelUpdateApi(APIView):
    @extend_schema(
        operation_id="labels_update",
        summary="Change a label's points, answers, source, score or model version",
        parameters=[IF_MATCH],
        request=LabelUpdateInputSerializer,
        responses={200: LabelOutputSerializer, **ERRORS_OF_WRITES},
    )
    def patch(self, request: Request, label_id: int) -> Response:
        changes = _body_object(request)
        control = LabelWriteControlSerializer(data={"version": changes.pop("version", None)})
        control.is_valid(raise_exception=True)
        label = selectors.label_get_for_labeling(user=request.user, label_id=label_id)
        expected_version = _expected_version(request, control.validated_data.get("version"))
        label = services.label_update(
            label=label, changes=changes, user=request.user, expected_version=expected_version
        )
        return Response(_label_output(label))


class LabelDeleteApi(APIView):
    @extend_schema(
        operation_id="labels_delete",
        summary="Delete a label and its nested labels",
        parameters=[IF_MATCH],
        responses={200: TaskVersionSerializer, **ERRORS_OF_WRITES},
    )
    def delete(self, request: Request, label_id: int) -> Response:
        label = selectors.label_get_for_labeling(user=request.user, label_id=label_id)
        expected_version = _expected_version(request, None)
        services.label_delete(label=label, expected_version=expected_version, user=request.user)
        return Response({"task_version": label.task.version})


# /api/labels/{id}: PATCH, DELETE.
class LabelDetailApi(LabelUpdateApi, LabelDeleteApi):
    pass


# --- the labeling page's keys ---------------------------------------------------------------------


class LabelingKeysApi(APIView):
    @extend_schema(
        operation_id="me_labeling_keys_get",
        summary="The keys you moved on the labeling page",
        responses={200: LabelingKeysSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response({"keys": selectors.labeling_keys_get(user=request.user)})

    @extend_schema(
        operation_id="me_labeling_keys_replace",
        summary="Keep the keys you moved on the labeling page (replaces the ones kept before)",
        request=LabelingKeysSerializer,
        responses={200: LabelingKeysSerializer, **ERRORS},
    )
    def put(self, request: Request) -> Response:
        body = _body_object(request)
        keys = services.labeling_keys_replace(user=request.user, keys=body.get("keys"))
        return Response({"keys": keys})


# --- team figures ----------------------------------------------------------------------------------

#: The columns of the team figures' CSV: one row per member and UTC day with any figure.
TEAM_FIGURES_CSV_COLUMNS = (
    "date",
    "user_id",
    "username",
    "tasks_completed",
    "labels_made",
    "median_active_seconds",
    "reviews_accepted",
    "reviews_rejected",
    "acceptance_rate",
    "reviews_done",
)


def team_figures_csv(figures: TeamFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEAM_FIGURES_CSV_COLUMNS)
    rows = [(day.day, member, day) for member in figures.members for day in member.days]
    for day, member, figures_of_day in sorted(rows, key=lambda row: (row[0], row[1].username.lower())):
        writer.writerow(
            [
                day.isoformat() if day else "",
                member.user_id,
                cell_safe(member.username),
                figures_of_day.tasks_completed,
                figures_of_day.labels_made,
                "" if figures_of_day.median_active_seconds is None else figures_of_day.median_active_seconds,
                figures_of_day.reviews_accepted,
                figures_of_day.reviews_rejected,
                "" if figures_of_day.acceptance_rate is None else figures_of_day.acceptance_rate,
                figures_of_day.reviews_done,
            ]
        )
    return out.getvalue()


class TeamFiguresApi(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="projects_team_figures",
        summary="Per member and UTC day: tasks completed, labels made, median active time, review verdicts",
        description="Admins and reviewers see every member (the project's members and anyone with a figure "
        "in the range); annotators see their own figures only. The range is `date_from` to `date_to`, both "
        "included (default: the last 30 days, at most 366). Each task counts once, at its latest completion "
        "and its latest verdict. `?format=csv` (or Accept: text/csv) answers one CSV row per member and day.",
        parameters=[TeamFiguresFilterSerializer, OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"])],
        responses={
            200: TeamFiguresSerializer,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR),
            **ERRORS,
        },
    )
    def get(self, request: Request, project_id: str) -> HttpResponseBase:
        filters = TeamFiguresFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        figures = selectors.team_figures_get_for_user(
            user=request.user,
            project_id=project_id,
            date_from=filters.validated_data.get("date_from"),
            date_to=filters.validated_data.get("date_to"),
            member_id=filters.validated_data.get("member"),
        )
        if request.accepted_renderer.format == "csv":
            response = HttpResponse(team_figures_csv(figures), content_type="text/csv; charset=utf-8")
            name = f"team-figures-{figures.date_from}-{figures.date_to}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        return Response(TeamFiguresSerializer(figures).data)
