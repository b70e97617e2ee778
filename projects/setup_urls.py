"""Pages that set projects up (projects/setup_views.py), included by labelsite/urls.py."""

from django.urls import path

from projects import setup_views as views

urlpatterns = [
    path("projects/new", views.project_create, name="setup-project-create"),
    path("projects/<uuid:project_id>/settings", views.project_settings, name="setup-project-settings"),
    path("projects/<uuid:project_id>/archive", views.project_archive, name="setup-project-archive"),
    path("projects/<uuid:project_id>/delete", views.project_delete, name="setup-project-delete"),
    path("projects/<uuid:project_id>/members", views.project_member_add, name="setup-project-member-add"),
    path(
        "projects/<uuid:project_id>/members/<int:user_id>/remove",
        views.project_member_remove,
        name="setup-project-member-remove",
    ),
    path("projects/<uuid:project_id>/configuration", views.project_configuration, name="setup-project-configuration"),
    path("projects/<uuid:project_id>/overview", views.project_overview, name="setup-project-overview"),
    path("organization/datasets", views.dataset_list, name="setup-datasets"),
    path("organization/datasets/<uuid:dataset_id>/media", views.dataset_media, name="setup-dataset-media"),
    path(
        "organization/datasets/<uuid:dataset_id>/media/<uuid:media_id>/delete",
        views.media_delete,
        name="setup-media-delete",
    ),
    path("media/<uuid:media_id>/thumbnail", views.media_thumbnail, name="setup-media-thumbnail"),
    path("organization/members", views.member_list, name="setup-members"),
    path("organization/tokens", views.token_list, name="setup-tokens"),
]
