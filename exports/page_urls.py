"""Pages of exports: the project's Export tab, whose export form posts here."""

from django.urls import path

from exports import views

urlpatterns = [
    path("projects/<uuid:project_id>/export", views.project_export, name="project-export"),
    path("projects/<uuid:project_id>/exports", views.project_export_create, name="project-export-create"),
]
