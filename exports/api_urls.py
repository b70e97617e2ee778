"""Routes of the exports API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from exports import api

urlpatterns = [
    path("projects/<uuid:project_id>/exports", api.ExportCollectionApi.as_view(), name="api-export-list"),
    path("projects/<uuid:project_id>/export", api.ExportStreamApi.as_view(), name="api-export-stream"),
    path("exports/<uuid:job_id>", api.ExportGetApi.as_view(), name="api-export"),
    path("exports/<uuid:job_id>/download", api.ExportDownloadApi.as_view(), name="api-export-download"),
    path("export-formats", api.ExportFormatListApi.as_view(), name="api-export-format-list"),
]
