"""The native API that the setup pages use (and scripts may): check a label configuration as it
is typed, say what a change does to the labels, save it keeping labels, convert other tools'
configurations, project members and API tokens.

One class per operation: an input serializer, one selector or service call, an output.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelsite.api import error_body
from labelsite.errors import Conflict, ErrorDetail
from projects import selectors, services
from projects.api import _configuration_output
from projects.config_converters import (
    ango_schema_text_to_entries,
    cvat_meta_to_entries,
    labelbox_ontology_text_to_entries,
    ls_config_image_field,
    ls_config_to_entries,
)
from projects.label_config import label_config_datagym_entries
from projects.serializers import (
    ERRORS,
    ERRORS_WITH_CONFLICT,
    LabelConfigurationField,
    LabelConfigurationOutputSerializer,
)


def _details(details: list[ErrorDetail]) -> list[dict[str, Any]]:
    return [detail.as_dict() for detail in details]


# --- the label configuration ---------------------------------------------------------------


class LabelConfigurationValidateApi(APIView):
    class ConfigurationValidateInputSerializer(serializers.Serializer):
        entries = LabelConfigurationField(allow_empty=True)

    @extend_schema(
        operation_id="projects_label_configuration_validate",
        summary="Check a label configuration without saving it",
        description="Answers 200 with every problem, located and worded as the save would report them.",
        request=ConfigurationValidateInputSerializer,
        responses={
            200: inline_serializer(
                "LabelConfigurationProblems",
                {"valid": serializers.BooleanField(), "problems": serializers.ListField(child=serializers.DictField())},
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = self.ConfigurationValidateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        selectors.project_get_for_admin(user=request.user, project_id=project_id)
        problems = services.label_config_problems(entries=data.validated_data["entries"])
        return Response({"valid": not problems, "problems": _details(problems)})


class LabelConfigurationImpactApi(APIView):
    class ConfigurationImpactInputSerializer(serializers.Serializer):
        entries = LabelConfigurationField(allow_empty=True)

    @extend_schema(
        operation_id="projects_label_configuration_impact",
        summary="What saving this configuration would do to existing labels and answers",
        request=ConfigurationImpactInputSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = self.ConfigurationImpactInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        impact = services.label_config_change_impact(
            configuration=project.label_configuration, new_entries=data.validated_data["entries"]
        )
        return Response(impact.as_dict())


class LabelConfigurationSaveApi(APIView):
    class ConfigurationSaveInputSerializer(serializers.Serializer):
        entries = LabelConfigurationField(allow_empty=True)
        confirm_loss = serializers.BooleanField(default=False)
        # Kept from a Label Studio XML config (`label_configurations_convert`); absent: unchanged.
        image_field = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        operation_id="projects_label_configuration_save",
        summary="Save a label configuration, keeping the labels of every entry that stays",
        description=(
            "An entry that comes back with its schema id, type and parent keeps its labels. When labels or "
            "answers would be lost, answers 409 `labels_would_be_lost` with the `impact` and saves nothing, "
            "unless `confirm_loss` is true."
        ),
        request=ConfigurationSaveInputSerializer,
        responses={200: LabelConfigurationOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = self.ConfigurationSaveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        try:
            services.label_config_save(
                configuration=project.label_configuration,
                entries=data.validated_data["entries"],
                confirm_loss=data.validated_data["confirm_loss"],
                image_field=data.validated_data.get("image_field"),
            )
        except Conflict as exc:
            if exc.code != "labels_would_be_lost":
                raise
            body = error_body(exc.code, exc.message)
            body["impact"] = exc.params[0]
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(_configuration_output(project))


class LabelConfigurationDatagymApi(APIView):
    @extend_schema(
        operation_id="projects_label_configuration_datagym",
        summary="The label configuration as DataGym's entry list",
        responses={200: OpenApiTypes.ANY, **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(label_config_datagym_entries(configuration=project.label_configuration))


class LabelConfigurationConvertApi(APIView):
    class ConfigurationConvertInputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=["label_studio_xml", "ango_schema", "labelbox_ontology", "cvat_xml"])
        source = serializers.CharField(allow_blank=False, trim_whitespace=False)  # type: ignore[assignment]

    @extend_schema(
        operation_id="label_configurations_convert",
        summary=(
            "Turn a Label Studio XML config, an Ango category schema, a Labelbox ontology (JSON text) or a "
            "CVAT for images 1.1 XML (its <meta> labels) into our entry tree"
        ),
        request=ConfigurationConvertInputSerializer,
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = self.ConfigurationConvertInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = data.validated_data["source"]
        image_field = None
        if data.validated_data["format"] == "label_studio_xml":
            converted = ls_config_to_entries(source)
            image_field = ls_config_image_field(source)
        elif data.validated_data["format"] == "labelbox_ontology":
            converted = labelbox_ontology_text_to_entries(source)
        elif data.validated_data["format"] == "cvat_xml":
            converted = cvat_meta_to_entries(source)
        else:
            converted = ango_schema_text_to_entries(source)
        return Response(
            {"entries": converted.entries, "warnings": _details(converted.warnings), "image_field": image_field}
        )


# --- project members -----------------------------------------------------------------------


def _member_output(user: Any, role: str) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "role": role}


class ProjectMemberListApi(APIView):
    @extend_schema(
        operation_id="projects_members_list",
        summary="The users assigned to the project",
        responses={200: OpenApiTypes.ANY, **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response([_member_output(m["user"], m["role"]) for m in selectors.project_member_list(project=project)])


class ProjectMemberAddApi(APIView):
    class ProjectMemberAddInputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()

    @extend_schema(
        operation_id="projects_members_add",
        summary="Assign a member of the organisation to the project",
        request=ProjectMemberAddInputSerializer,
        responses={204: None, **ERRORS},
    )
    def post(self, request: Request, project_id: str) -> Response:
        data = self.ProjectMemberAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        user = selectors.member_get(organization=project.organization, user_id=data.validated_data["user_id"])
        services.project_member_add(project=project, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# /api/projects/{id}/members: GET lists, POST adds.
class ProjectMemberCollectionApi(ProjectMemberListApi, ProjectMemberAddApi):
    pass


class ProjectMemberRemoveApi(APIView):
    @extend_schema(operation_id="projects_members_remove", responses={204: None, **ERRORS})
    def delete(self, request: Request, project_id: str, user_id: int) -> Response:
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        user = selectors.member_get(organization=project.organization, user_id=user_id)
        services.project_member_remove(project=project, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API tokens ----------------------------------------------------------------------------


def _token_output(token: Any) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


class TokenListApi(APIView):
    @extend_schema(
        operation_id="tokens_list",
        summary="The API tokens of the organisation you administer",
        responses={200: OpenApiTypes.ANY, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        organization = selectors.organization_get_for_admin(
            user=request.user, organization_id=request.query_params.get("organization_id")
        )
        return Response([_token_output(t) for t in selectors.api_token_list(organization=organization)])


class TokenCreateApi(APIView):
    class TokenCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=128, allow_blank=True, default="")
        organization_id = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create an organisation token; its secret is in this answer only",
        request=TokenCreateInputSerializer,
        responses={201: OpenApiTypes.OBJECT, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = self.TokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = selectors.organization_get_for_admin(
            user=request.user, organization_id=data.validated_data.get("organization_id")
        )
        token, raw = services.api_token_create(organization=organization, name=data.validated_data["name"])
        return Response({**_token_output(token), "token": raw}, status=status.HTTP_201_CREATED)


# /api/tokens: GET lists, POST creates.
class TokenCollectionApi(TokenListApi, TokenCreateApi):
    pass


class TokenRevokeApi(APIView):
    @extend_schema(operation_id="tokens_revoke", summary="Revoke a token", responses={204: None, **ERRORS})
    def delete(self, request: Request, token_id: str) -> Response:
        for organization in selectors.organization_list_for_admin(user=request.user):
            token = selectors.api_token_list(organization=organization).filter(pk=token_id).first()
            if token is not None:
                services.api_token_revoke(token=token)
                return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(error_body("not_found", "No such token."), status=status.HTTP_404_NOT_FOUND)
