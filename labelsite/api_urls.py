"""The native API under /api/: its schema and documentation, then each app's routes.

labelsite/urls.py includes the DataGym v1 routes (all of /api/v1/) before this module, so
nothing here may start with `v1/`. Paths have no trailing slash. An app adds its API by
one `include` line before the catch-all at the end (which answers unknown /api/ paths
with the JSON error shape instead of an HTML page).
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from labelsite.api import not_found
from projects import api as projects_api

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # projects: projects, label configurations, datasets, media
    path("projects", projects_api.ProjectCollectionApi.as_view(), name="api-project-list"),
    path("projects/<uuid:project_id>", projects_api.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<uuid:project_id>/label-configuration",
        projects_api.LabelConfigurationApi.as_view(),
        name="api-project-label-configuration",
    ),
    path("datasets", projects_api.DatasetCollectionApi.as_view(), name="api-dataset-list"),
    path("datasets/<uuid:dataset_id>", projects_api.DatasetDetailApi.as_view(), name="api-dataset"),
    path(
        "datasets/<uuid:dataset_id>/projects/<uuid:project_id>",
        projects_api.DatasetProjectApi.as_view(),
        name="api-dataset-project",
    ),
    path("datasets/<uuid:dataset_id>/media", projects_api.MediaCollectionApi.as_view(), name="api-dataset-media"),
    path(
        "datasets/<uuid:dataset_id>/media/urls",
        projects_api.MediaUrlsCreateApi.as_view(),
        name="api-dataset-media-urls",
    ),
    path("datasets/<uuid:dataset_id>/media/s3", projects_api.MediaS3CreateApi.as_view(), name="api-dataset-media-s3"),
    path("media/<uuid:media_id>", projects_api.MediaDeleteApi.as_view(), name="api-media"),
    # labeling: tasks, annotations, labels
    path("", include("labeling.urls")),
    # imports: import jobs, their errors and the format registry
    path("", include("imports.api_urls")),
    path("", include("imports.export_api_urls")),  # exports: jobs, downloads, formats
    path("", include("projects.setup_api_urls")),  # project setup: config checks, members, tokens
    # Unknown paths under /api/ answer the JSON 404; keep this last.
    re_path(r"^[\s\S]*$", not_found),  # [\s\S], not ".": a path with a newline in it is an API path too
]
