"""Pages of imports: the project's Import tab, whose upload form posts here; the job page and its buttons."""

from django.urls import path

from imports import views

urlpatterns = [
    path("projects/<uuid:project_id>/import", views.project_import, name="project-import"),
    path("projects/<uuid:project_id>/imports", views.project_import_create, name="project-import-create"),
    path("imports/<uuid:job_id>/", views.import_job_detail, name="import-job-detail"),
    path("imports/<uuid:job_id>/confirm", views.import_job_confirm, name="import-job-confirm"),
    path("imports/<uuid:job_id>/cancel", views.import_job_cancel, name="import-job-cancel"),
]
