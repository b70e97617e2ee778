"""Pages of exports: the project page's export form posts here."""

from django.urls import path

from exports import views

urlpatterns = [
    path("projects/<uuid:project_id>/exports", views.project_export_create, name="project-export-create"),
]
