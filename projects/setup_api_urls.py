"""The setup pages' API (projects/setup_api.py), included under /api/ by labelsite/api_urls.py."""

from django.urls import path

from projects import setup_api

urlpatterns = [
    path(
        "projects/<uuid:project_id>/label-configuration/validate",
        setup_api.LabelConfigurationValidateApi.as_view(),
        name="api-label-configuration-validate",
    ),
    path(
        "projects/<uuid:project_id>/label-configuration/impact",
        setup_api.LabelConfigurationImpactApi.as_view(),
        name="api-label-configuration-impact",
    ),
    path(
        "projects/<uuid:project_id>/label-configuration/save",
        setup_api.LabelConfigurationSaveApi.as_view(),
        name="api-label-configuration-save",
    ),
    path(
        "projects/<uuid:project_id>/label-configuration/datagym",
        setup_api.LabelConfigurationDatagymApi.as_view(),
        name="api-label-configuration-datagym",
    ),
    path("label-configurations/convert", setup_api.LabelConfigurationConvertApi.as_view(), name="api-config-convert"),
    path(
        "projects/<uuid:project_id>/members",
        setup_api.ProjectMemberCollectionApi.as_view(),
        name="api-project-members",
    ),
    path(
        "projects/<uuid:project_id>/members/<int:user_id>",
        setup_api.ProjectMemberRemoveApi.as_view(),
        name="api-project-member",
    ),
    path("tokens", setup_api.TokenCollectionApi.as_view(), name="api-tokens"),
    path("tokens/<uuid:token_id>", setup_api.TokenRevokeApi.as_view(), name="api-token"),
]
