"""The native API's routes of projects: projects, label configurations, datasets, media."""

from django.urls import path

from projects import api as projects_api

urlpatterns = [
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
    path(
        "datasets/<uuid:dataset_id>/media/keys",
        projects_api.MediaKeysImportApi.as_view(),
        name="api-dataset-media-keys",
    ),
    path("datasets/<uuid:dataset_id>/media/s3", projects_api.MediaS3CreateApi.as_view(), name="api-dataset-media-s3"),
    path("media/<uuid:media_id>", projects_api.MediaApi.as_view(), name="api-media"),
]
