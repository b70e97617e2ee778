"""Routes of the exports API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from imports import export_api

urlpatterns = [
    path("projects/<uuid:project_id>/exports", export_api.ExportCollectionApi.as_view(), name="api-export-list"),
    path("projects/<uuid:project_id>/export", export_api.ExportStreamApi.as_view(), name="api-export-stream"),
    path("exports/<uuid:job_id>", export_api.ExportGetApi.as_view(), name="api-export"),
    path("exports/<uuid:job_id>/download", export_api.ExportDownloadApi.as_view(), name="api-export-download"),
    path("export-formats", export_api.ExportFormatListApi.as_view(), name="api-export-format-list"),
]
