"""Routes of the model-server API, mounted under /api/ by labelsite/api_urls.py; with them the
image route model servers download from (`ml/media/...`, their media token, no session)."""

from django.urls import path

from ml import api

urlpatterns = [
    path("projects/<uuid:project_id>/ml-backends", api.BackendCollectionApi.as_view(), name="api-ml-backend-list"),
    path(
        "projects/<uuid:project_id>/ml-backends/interactive",
        api.InteractiveBackendListApi.as_view(),
        name="api-ml-backend-interactive-list",
    ),
    path("ml-backends/<uuid:backend_id>", api.BackendApi.as_view(), name="api-ml-backend"),
    path("ml-backends/<uuid:backend_id>/check", api.BackendCheckApi.as_view(), name="api-ml-backend-check"),
    path("ml-backends/<uuid:backend_id>/token", api.BackendTokenApi.as_view(), name="api-ml-backend-token"),
    path("ml-backends/<uuid:backend_id>/interactive", api.InteractiveApi.as_view(), name="api-ml-backend-interactive"),
    path("projects/<uuid:project_id>/prelabel-jobs", api.PrelabelCollectionApi.as_view(), name="api-ml-prelabel-list"),
    path("prelabel-jobs/<uuid:prelabel_job_id>", api.PrelabelJobApi.as_view(), name="api-ml-prelabel-job"),
    path(
        "prelabel-jobs/<uuid:prelabel_job_id>/cancel",
        api.PrelabelJobCancelApi.as_view(),
        name="api-ml-prelabel-job-cancel",
    ),
    path(
        "prelabel-jobs/<uuid:prelabel_job_id>/retry",
        api.PrelabelJobRetryApi.as_view(),
        name="api-ml-prelabel-job-retry",
    ),
    path(
        "projects/<uuid:project_id>/prediction-versions",
        api.PredictionVersionListApi.as_view(),
        name="api-ml-prediction-versions",
    ),
    path(
        "projects/<uuid:project_id>/prediction-accept-jobs",
        api.AcceptCollectionApi.as_view(),
        name="api-ml-accept-list",
    ),
    path("prediction-accept-jobs/<uuid:accept_job_id>", api.AcceptJobApi.as_view(), name="api-ml-accept-job"),
    path("ml/media/<uuid:media_id>/<str:name>", api.MlMediaFileApi.as_view(), name="ml-media-file"),
]
