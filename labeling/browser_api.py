"""The task browser's API besides its list (`labeling.api.TaskListApi`): saved views and bulk actions.

Saved views: anyone who sees the project keeps private views; admins share views with the
project. Bulk actions: admins only; on checked rows (at most 1,000) they run in the request,
on every task a filter matches they run as a background job whose progress
`GET /api/task-bulk-jobs/{id}` reports.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import browser_selectors, browser_services
from labeling.models import TaskBulkAction, TaskBulkJob, TaskBulkStatus, TaskView
from projects.selectors import project_get_for_user
from projects.serializers import ERRORS

# --- serializers -----------------------------------------------------------------------------------


class TaskViewInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    shared = serializers.BooleanField(required=False, default=False, help_text="Shared with the project (admins).")
    query = serializers.DictField(
        required=False,
        default=dict,
        help_text="The browser's query parameters, as GET /api/projects/{id}/tasks takes them.",
    )
    columns = serializers.ListField(
        child=serializers.CharField(max_length=80), required=False, default=list, max_length=60
    )


class TaskViewUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    shared = serializers.BooleanField(required=False)
    query = serializers.DictField(required=False)
    columns = serializers.ListField(child=serializers.CharField(max_length=80), required=False, max_length=60)


class TaskViewOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    shared = serializers.BooleanField()
    owner = serializers.CharField(allow_null=True, source="owner.username", default=None)
    query = serializers.DictField()
    columns = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskBulkInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=TaskBulkAction.choices)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="assign: `user_ids` (several: round-robin in the tasks' order); set_state: `state`.",
    )
    task_ids = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=browser_services.SELECTION_MAX,
        help_text="The checked tasks (at most 1,000): the action runs at once.",
    )
    filter = serializers.DictField(
        required=False,
        help_text="Instead of task_ids: every task this browser query matches (the list's query parameters); "
        "the action runs as a background job (202).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("task_ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError({"task_ids": ["Give task_ids (checked rows) or filter (all matching)."]})
        return attrs


class TaskBulkResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    tasks = serializers.IntegerField(help_text="Tasks the action ran on.")
    changed = serializers.IntegerField(help_text="Tasks changed; labels deleted for the delete actions.")


class TaskBulkJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    action = serializers.ChoiceField(choices=TaskBulkAction.choices)
    params = serializers.DictField()
    query = serializers.DictField()
    status = serializers.ChoiceField(choices=TaskBulkStatus.choices)
    total = serializers.IntegerField(allow_null=True)
    done = serializers.IntegerField()
    changed = serializers.IntegerField()
    progress = serializers.FloatField(allow_null=True, help_text="0 to 1; null until the task count is known.")
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def _job_data(job: TaskBulkJob) -> dict[str, Any]:
    progress = None
    if job.status == TaskBulkStatus.SUCCEEDED:
        progress = 1.0
    elif job.total is not None:
        progress = min(1.0, job.done / job.total) if job.total else 1.0
    return dict(
        TaskBulkJobSerializer(
            {
                "id": job.id,
                "project_id": job.project_id,
                "action": job.action,
                "params": job.params,
                "query": job.query,
                "status": job.status,
                "total": job.total,
                "done": job.done,
                "changed": job.changed,
                "progress": progress,
                "message": job.message,
                "created_at": job.created_at,
                "finished_at": job.finished_at,
            }
        ).data
    )


def _view_data(view: TaskView) -> dict[str, Any]:
    return dict(TaskViewOutputSerializer(view).data)


# --- saved views -----------------------------------------------------------------------------------


class TaskViewListApi(APIView):
    @extend_schema(
        operation_id="projects_task_views_list",
        summary="The task browser's saved views you see: the project's shared ones and your own",
        responses={200: TaskViewOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        views = browser_selectors.task_view_list(project=project, user=request.user).select_related("owner")
        return Response([_view_data(view) for view in views])


class TaskViewCreateApi(APIView):
    @extend_schema(
        operation_id="projects_task_views_create",
        summary="Save a view of the task browser (shared with the project: admins only)",
        request=TaskViewInputSerializer,
        responses={201: TaskViewOutputSerializer, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = TaskViewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_get_for_user(user=request.user, project_id=project_id)
        view = browser_services.task_view_create(project=project, user=request.user, **data.validated_data)
        return Response(_view_data(view), status=status.HTTP_201_CREATED)


# /api/projects/{id}/task-views: GET, POST.
class TaskViewCollectionApi(TaskViewListApi, TaskViewCreateApi):
    pass


class TaskViewUpdateApi(APIView):
    @extend_schema(
        operation_id="task_views_update",
        summary="Change a saved view (your own; a shared one: admins)",
        request=TaskViewUpdateSerializer,
        responses={200: TaskViewOutputSerializer, **ERRORS},
    )
    def patch(self, request: Request, view_id: str) -> Response:
        data = TaskViewUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        view = browser_selectors.task_view_get_for_change(user=request.user, view_id=view_id)
        view = browser_services.task_view_update(view=view, user=request.user, changes=data.validated_data)
        return Response(_view_data(view))


class TaskViewDeleteApi(APIView):
    @extend_schema(
        operation_id="task_views_delete",
        summary="Delete a saved view (your own; a shared one: admins)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, view_id: str) -> Response:
        view = browser_selectors.task_view_get_for_change(user=request.user, view_id=view_id)
        browser_services.task_view_delete(view=view)
        return Response(status=status.HTTP_204_NO_CONTENT)


# /api/task-views/{id}: PATCH, DELETE.
class TaskViewDetailApi(TaskViewUpdateApi, TaskViewDeleteApi):
    pass


# --- bulk actions ----------------------------------------------------------------------------------


class TaskBulkApi(APIView):
    @extend_schema(
        operation_id="projects_tasks_bulk",
        summary="Run a bulk action on checked tasks, or on every task a filter matches (admins)",
        description="Actions: assign (`params.user_ids`; several are spread round-robin), unassign, set_state "
        "(`params.state`), send_to_review (completed, so that reviewers get it), delete_labels, "
        "delete_predictions. With `task_ids` the action runs at once and answers 200 with what it changed; "
        "with `filter` it runs as a background job and answers 202 with the job, whose progress "
        "GET /api/task-bulk-jobs/{id} reports. Changing state or assignment ends the tasks' reservations; "
        "deleting labels bumps the tasks' versions.",
        request=TaskBulkInputSerializer,
        responses={200: TaskBulkResultSerializer, 202: TaskBulkJobSerializer, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = TaskBulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = browser_selectors.project_get_for_bulk(user=request.user, project_id=project_id)
        action = browser_services.task_bulk_action_clean(
            project=project, action=data.validated_data["action"], params=data.validated_data["params"]
        )
        if "filter" in data.validated_data:
            job = browser_services.task_bulk_job_create(
                project=project, user=request.user, action=action, query=data.validated_data["filter"]
            )
            job.refresh_from_db()
            return Response(_job_data(job), status=status.HTTP_202_ACCEPTED)
        result = browser_services.task_bulk_apply_selection(
            project=project, action=action, task_ids=data.validated_data["task_ids"]
        )
        return Response(TaskBulkResultSerializer(result).data)


class TaskBulkJobGetApi(APIView):
    @extend_schema(
        operation_id="task_bulk_jobs_get",
        summary="A bulk job's progress (admins of its project)",
        responses={200: TaskBulkJobSerializer, **ERRORS},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = browser_selectors.task_bulk_job_get(user=request.user, job_id=job_id)
        return Response(_job_data(job))
