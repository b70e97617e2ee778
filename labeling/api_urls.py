"""Routes of the labeling app's native API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from labeling import api

urlpatterns = [
    path("projects/<uuid:project_id>/tasks", api.TaskListApi.as_view(), name="api-task-list"),
    path("projects/<uuid:project_id>/review/next", api.TaskReviewNextApi.as_view(), name="api-task-review-next"),
    path("projects/<uuid:project_id>/team-figures", api.TeamFiguresApi.as_view(), name="api-team-figures"),
    path("tasks/<uuid:task_id>", api.TaskGetApi.as_view(), name="api-task"),
    path("tasks/<uuid:task_id>/assign", api.TaskAssignApi.as_view(), name="api-task-assign"),
    path("tasks/<uuid:task_id>/complete", api.TaskCompleteApi.as_view(), name="api-task-complete"),
    path("tasks/<uuid:task_id>/skip", api.TaskSkipApi.as_view(), name="api-task-skip"),
    path("tasks/<uuid:task_id>/heartbeat", api.TaskHeartbeatApi.as_view(), name="api-task-heartbeat"),
    path("tasks/<uuid:task_id>/release", api.TaskReleaseApi.as_view(), name="api-task-release"),
    path("tasks/<uuid:task_id>/review", api.TaskReviewApi.as_view(), name="api-task-review"),
    path("tasks/<uuid:task_id>/annotation", api.AnnotationApi.as_view(), name="api-task-annotation"),
    path("tasks/<uuid:task_id>/labels", api.LabelCreateApi.as_view(), name="api-task-labels"),
    path("labels/<int:label_id>", api.LabelDetailApi.as_view(), name="api-label"),
    path("me/labeling-keys", api.LabelingKeysApi.as_view(), name="api-labeling-keys"),
]
