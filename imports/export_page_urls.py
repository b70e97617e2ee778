"""Pages of exports: the project page's export form posts here."""

from django.urls import path

from imports import export_views

urlpatterns = [
    path("projects/<uuid:project_id>/exports", export_views.project_export_create, name="project-export-create"),
]
