"""Routes of the imports app's native API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from imports import api

urlpatterns = [
    path("projects/<uuid:project_id>/imports", api.ImportCreateApi.as_view(), name="api-import-create"),
    path("imports/<uuid:job_id>", api.ImportGetApi.as_view(), name="api-import"),
    path("imports/<uuid:job_id>/errors", api.ImportErrorsApi.as_view(), name="api-import-errors"),
    path("imports/<uuid:job_id>/errors.csv", api.ImportErrorsCsvApi.as_view(), name="api-import-errors-csv"),
    path("imports/<uuid:job_id>/confirm", api.ImportConfirmApi.as_view(), name="api-import-confirm"),
    path("imports/<uuid:job_id>/cancel", api.ImportCancelApi.as_view(), name="api-import-cancel"),
    path("import-formats", api.ImportFormatListApi.as_view(), name="api-import-format-list"),
    path("import-formats/<str:name>/example", api.ImportFormatExampleApi.as_view(), name="api-import-format-example"),
]
