"""The native API of projects, label configurations, datasets and media (under /api/).

One class per operation: an input serializer, one selector or service call, an output
serializer. Where two operations share a URL (GET lists, POST creates), the URL's view
is the two operation classes combined, each keeping its own method and schema. Who may
do what is decided by the selectors (`*_get_for_user` reads, `*_get_for_admin` writes);
errors become the one error shape in `labelsite.api`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelsite.api import UploadLimitedApi, error_body
from labelsite.errors import Conflict, ErrorDetail, ValidationFailed
from labelsite.uploads import IMAGE_UPLOAD, IMPORT_UPLOAD
from projects import selectors, services
from projects.label_config import label_config_tree
from projects.media_keys import media_keys_parse, media_keys_upload_parse
from projects.models import Dataset, Media, Project
from projects.serializers import (
    ERRORS,
    ERRORS_WITH_CONFLICT,
    ConfigurationLossErrorSerializer,
    DatasetCreateInputSerializer,
    DatasetOutputSerializer,
    LabelConfigurationOutputSerializer,
    LabelConfigurationReplaceInputSerializer,
    MediaFilterSerializer,
    MediaKeysImportInputSerializer,
    MediaKeysInputSerializer,
    MediaOutputSerializer,
    MediaS3InputSerializer,
    MediaS3ResultSerializer,
    MediaUploadInputSerializer,
    MediaUploadResultSerializer,
    MediaUrlResultSerializer,
    MediaUrlsInputSerializer,
    ProjectCreateInputSerializer,
    ProjectOutputSerializer,
    ProjectUpdateInputSerializer,
)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the schema describes our API tokens (drf-spectacular finds it by its target class)."""

    target_class = "projects.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `Authorization: Bearer <token>` (or `Token <token>`); a `?token=` "
            "in the URL is refused (401 `token_in_query`). "
            "An organisation's token acts as an admin of it; a personal token as its user.",
        }


def _project_output(project: Project) -> dict[str, Any]:
    return dict(ProjectOutputSerializer(project).data)


# --- projects ----------------------------------------------------------------------------


class ProjectListApi(generics.ListAPIView):
    serializer_class = ProjectOutputSerializer

    @extend_schema(
        operation_id="projects_list",
        summary="List the projects you may see",
        responses={200: ProjectOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Project]:
        user: Any = self.request.user
        return selectors.project_list_for_user(user=user).select_related("label_configuration", "label_iteration")


class ProjectCreateApi(APIView):
    @extend_schema(
        operation_id="projects_create",
        summary="Create a project with its label configuration",
        request=ProjectCreateInputSerializer,
        responses={201: ProjectOutputSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = ProjectCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = selectors.organization_get_for_admin(
            user=request.user, organization_id=data.validated_data.get("organization_id")
        )
        project = services.project_create(
            organization=organization,
            name=data.validated_data["name"],
            short_description=data.validated_data["short_description"],
            description=data.validated_data["description"],
            label_configuration=data.validated_data.get("label_configuration"),
        )
        return Response(_project_output(project), status=status.HTTP_201_CREATED)


# /api/projects: GET lists, POST creates.
class ProjectCollectionApi(ProjectListApi, ProjectCreateApi):
    pass


class ProjectGetApi(APIView):
    @extend_schema(operation_id="projects_get", responses={200: ProjectOutputSerializer, **ERRORS})
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(_project_output(project))


class ProjectUpdateApi(APIView):
    @extend_schema(
        operation_id="projects_update",
        request=ProjectUpdateInputSerializer,
        responses={200: ProjectOutputSerializer, **ERRORS},
    )
    def patch(self, request: Request, project_id: str) -> Response:
        data = ProjectUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        project = services.project_update(project=project, **data.validated_data)
        return Response(_project_output(project))


class ProjectDeleteApi(APIView):
    @extend_schema(
        operation_id="projects_delete",
        summary="Delete a project with its tasks and labels (its datasets stay)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        services.project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


# /api/projects/{id}: GET, PATCH, DELETE.
class ProjectDetailApi(ProjectGetApi, ProjectUpdateApi, ProjectDeleteApi):
    pass


# --- the label configuration ---------------------------------------------------------------


def _configuration_output(project: Project) -> dict[str, Any]:
    configuration = project.label_configuration
    return dict(
        LabelConfigurationOutputSerializer(
            {
                "id": configuration.id,
                "project_id": project.id,
                "updated_at": configuration.updated_at,
                "entries": label_config_tree(configuration=configuration),
            }
        ).data
    )


class LabelConfigurationGetApi(APIView):
    @extend_schema(
        operation_id="projects_label_configuration_get",
        summary="The project's label configuration as a nested tree",
        responses={200: LabelConfigurationOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(_configuration_output(project))


class LabelConfigurationReplaceApi(APIView):
    @extend_schema(
        operation_id="projects_label_configuration_replace",
        summary="Save the whole label configuration, keeping the labels of every entry that stays",
        description=(
            "`entries` is our tree (as GET answers it) or DataGym's entry list. An invalid configuration "
            "answers 400 with every problem located in `details` and changes nothing. An entry that comes "
            "back with its `schema_id`, type and parent is kept with its labels and answers (as the "
            "configuration editor saves), so a GET then PUT of the same tree changes nothing. A change that "
            "would delete labels or answers (a class, question or option left out, a question key changed) "
            "answers 409 `labels_would_be_lost` with the `impact` (counts per class, question and option) "
            "and saves nothing, unless `confirm_loss` is true (in the body, or `?confirm_loss=true`). "
            "DataGym v1's `PUT /api/v1/labelconfig/{id}` keeps DataGym's replace semantics."
        ),
        parameters=[
            OpenApiParameter(
                "confirm_loss",
                bool,
                required=False,
                description="As the body's `confirm_loss`: save although labels or answers are deleted.",
            )
        ],
        request=LabelConfigurationReplaceInputSerializer,
        responses={200: LabelConfigurationOutputSerializer, **ERRORS, 409: ConfigurationLossErrorSerializer},
    )
    def put(self, request: Request, project_id: str) -> Response:
        data = LabelConfigurationReplaceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = ConfirmLossQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        try:
            services.label_config_save(
                configuration=project.label_configuration,
                entries=data.validated_data["entries"],
                confirm_loss=data.validated_data["confirm_loss"] or query.validated_data["confirm_loss"],
            )
        except Conflict as exc:
            if exc.code != "labels_would_be_lost":
                raise
            body = error_body(exc.code, exc.message)
            body["impact"] = exc.params[0]
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(_configuration_output(project))


class ConfirmLossQuerySerializer(serializers.Serializer):
    confirm_loss = serializers.BooleanField(default=False)


# /api/projects/{id}/label-configuration: GET, PUT.
class LabelConfigurationApi(LabelConfigurationGetApi, LabelConfigurationReplaceApi):
    pass


# --- datasets ------------------------------------------------------------------------------


def _dataset_output(dataset: Dataset) -> dict[str, Any]:
    return dict(DatasetOutputSerializer(dataset).data)


class DatasetListApi(generics.ListAPIView):
    serializer_class = DatasetOutputSerializer

    @extend_schema(
        operation_id="datasets_list",
        summary="List the datasets you may see",
        responses={200: DatasetOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Dataset]:
        user: Any = self.request.user
        return selectors.dataset_list_for_user(user=user).prefetch_related("projects")


class DatasetCreateApi(APIView):
    @extend_schema(
        operation_id="datasets_create",
        request=DatasetCreateInputSerializer,
        responses={201: DatasetOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request) -> Response:
        data = DatasetCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = selectors.organization_get_for_admin(
            user=request.user, organization_id=data.validated_data.get("organization_id")
        )
        dataset = services.dataset_create(
            organization=organization,
            name=data.validated_data["name"],
            short_description=data.validated_data["short_description"],
        )
        return Response(_dataset_output(dataset), status=status.HTTP_201_CREATED)


# /api/datasets: GET lists, POST creates.
class DatasetCollectionApi(DatasetListApi, DatasetCreateApi):
    pass


class DatasetGetApi(APIView):
    @extend_schema(operation_id="datasets_get", responses={200: DatasetOutputSerializer, **ERRORS})
    def get(self, request: Request, dataset_id: str) -> Response:
        dataset = selectors.dataset_get_for_user(user=request.user, dataset_id=dataset_id)
        return Response(_dataset_output(dataset))


class DatasetDeleteApi(APIView):
    @extend_schema(operation_id="datasets_delete", responses={204: None, **ERRORS})
    def delete(self, request: Request, dataset_id: str) -> Response:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        services.dataset_delete(dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)


# /api/datasets/{id}: GET, DELETE.
class DatasetDetailApi(DatasetGetApi, DatasetDeleteApi):
    pass


class DatasetConnectApi(APIView):
    @extend_schema(
        operation_id="datasets_connect",
        summary="Connect the dataset to a project: each of its media becomes a task there",
        request=None,
        responses={204: None, **ERRORS_WITH_CONFLICT},
    )
    def post(self, request: Request, dataset_id: str, project_id: str) -> Response:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        services.dataset_connect(dataset=dataset, project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetDisconnectApi(APIView):
    @extend_schema(
        operation_id="datasets_disconnect",
        summary="Disconnect the dataset from a project (its tasks there stay)",
        responses={204: None, **ERRORS_WITH_CONFLICT},
    )
    def delete(self, request: Request, dataset_id: str, project_id: str) -> Response:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        project = selectors.project_get_for_admin(user=request.user, project_id=project_id)
        services.dataset_disconnect(dataset=dataset, project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


# /api/datasets/{id}/projects/{project_id}: POST connects, DELETE disconnects.
class DatasetProjectApi(DatasetConnectApi, DatasetDisconnectApi):
    pass


# --- media ---------------------------------------------------------------------------------


class MediaListApi(generics.ListAPIView):
    serializer_class = MediaOutputSerializer

    @extend_schema(
        operation_id="datasets_media_list",
        summary="List a dataset's media, filtered by name and source",
        parameters=[MediaFilterSerializer],
        responses={200: MediaOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Media]:
        filters = MediaFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        user: Any = self.request.user
        dataset = selectors.dataset_get_for_user(user=user, dataset_id=self.kwargs["dataset_id"])
        return selectors.media_list(
            dataset=dataset,
            name_contains=filters.validated_data.get("name", ""),
            source=filters.validated_data.get("source", ""),
        )


class MediaUploadApi(UploadLimitedApi):
    parser_classes = [MultiPartParser]
    # Each file streams through LABELSITE_MAX_IMAGE_BYTES; one past it fails alone.
    upload_limit = IMAGE_UPLOAD
    upload_many = True

    @extend_schema(
        operation_id="datasets_media_upload",
        summary="Upload many images in one multipart request",
        description=(
            "Send one `file` part per image, and optionally a `keys` part: JSON, file name -> {external_id, "
            "global_key}, that gives the images the ids other tools name them by (checked before any file is "
            "stored: a bad key or a name no file part has answers 400 located at `keys/<name>/<field>`; a global "
            "key another media has fails that file as `global_key_taken`). "
            "Each file succeeds or fails on its own: the answer lists the "
            "created media and, for each failed file, its name and error. 201 when at least one file was "
            "stored, 400 when none was. A file over LABELSITE_MAX_IMAGE_BYTES fails as `file_too_large` "
            "(it is not kept); a request declaring more than the files it may carry answers 413."
        ),
        request={"multipart/form-data": MediaUploadInputSerializer},
        responses={
            201: MediaUploadResultSerializer,
            # Every file failed (the per-file list), or the request itself is refused (a bad `keys` part).
            400: PolymorphicProxySerializer(
                component_name="MediaUploadRefused",
                serializers=[MediaUploadResultSerializer, ERRORS[400]],
                resource_type_field_name=None,
            ),
            413: ERRORS[400],
            401: ERRORS[401],
            403: ERRORS[403],
            404: ERRORS[404],
        },
    )
    def post(self, request: Request, dataset_id: str) -> Response:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        # The files as Django spooled them (memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, else disk),
        # never read whole: the service streams each to storage.
        uploads = request.FILES.getlist("file")
        # The external id and global key of each image, by file name (the `keys` part).
        keys_text = request.POST.get("keys") or ""
        keys = media_keys_upload_parse(text=keys_text, file_names=[f.name or "" for f in uploads]) if keys_text else {}
        files = []
        for upload in uploads:
            row = keys.get(upload.name or "")
            files.append(
                services.UploadedFile(
                    name=upload.name or "",
                    content=upload,
                    external_id=(row.external_id or "") if row else "",
                    global_key=row.global_key if row else None,
                    global_key_path=row.path("global_key") if row else "global_key",
                )
            )
        refused = [services.MediaUploadFailure(name=name, error=error) for name, error in self.upload_refused()]
        if not files and not refused:
            return Response(
                {"created": [], "failed": [{"name": "", "error": _no_file_error()}]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        result = services.media_create_from_files(dataset=dataset, files=files)
        failed = [*refused, *result.failed]
        body = {
            "created": result.created,
            "failed": [
                {
                    "name": failure.name,
                    "error": {
                        "code": failure.error.code,
                        "message": failure.error.message,
                        "details": [detail.as_dict() for detail in failure.error.details],
                    },
                }
                for failure in failed
            ],
        }
        http_status = status.HTTP_201_CREATED if result.created else status.HTTP_400_BAD_REQUEST
        return Response(MediaUploadResultSerializer(body, context={"request": request}).data, status=http_status)


def _no_file_error() -> dict[str, Any]:
    return {
        "code": "required",
        "message": "Send the images as multipart parts named 'file'.",
        "details": [{"path": "file", "code": "required", "message": "No file part."}],
    }


# /api/datasets/{id}/media: GET lists (paginated, filtered), POST uploads files.
class MediaCollectionApi(MediaListApi, MediaUploadApi):
    parser_classes = [MultiPartParser]


class MediaUrlsCreateApi(APIView):
    @extend_schema(
        operation_id="datasets_media_urls",
        summary="Add images by URL (not fetched now); one result per URL",
        request=MediaUrlsInputSerializer,
        responses={201: MediaUrlResultSerializer(many=True), 200: MediaUrlResultSerializer(many=True), **ERRORS},
    )
    def post(self, request: Request, dataset_id: str) -> Response:
        data = MediaUrlsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        results = services.media_create_from_urls(dataset=dataset, urls=data.validated_data["urls"])
        created = any(result.media is not None for result in results)
        return Response(
            MediaUrlResultSerializer(results, many=True, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MediaS3CreateApi(APIView):
    @extend_schema(
        operation_id="datasets_media_s3",
        summary="Add images stored in an S3 bucket, by key (not fetched now); one result per key",
        description=(
            "Only a bucket and prefix the operator lists for the organisation in `LABELSITE_S3_SOURCES` may "
            "be referenced (never Labelsite's own storage): another bucket answers 400 `s3_source_not_allowed` "
            "located at `bucket`, keys outside the prefixes at `keys[i]`, and nothing is added."
        ),
        request=MediaS3InputSerializer,
        responses={201: MediaS3ResultSerializer(many=True), 200: MediaS3ResultSerializer(many=True), **ERRORS},
    )
    def post(self, request: Request, dataset_id: str) -> Response:
        data = MediaS3InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        results = services.media_create_from_s3(
            dataset=dataset, bucket=data.validated_data["bucket"], keys=data.validated_data["keys"]
        )
        created = any(result.media is not None for result in results)
        return Response(
            MediaS3ResultSerializer(results, many=True, context={"request": request}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MediaDeleteApi(APIView):
    @extend_schema(
        operation_id="media_delete",
        summary="Delete a media (soft: its labels stay for the record)",
        responses={204: None, **ERRORS_WITH_CONFLICT},
    )
    def delete(self, request: Request, media_id: str) -> Response:
        media = selectors.media_get_for_admin(user=request.user, media_id=media_id)
        services.media_delete(media=media)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MediaKeysUpdateApi(APIView):
    @extend_schema(
        operation_id="media_keys_update",
        summary="Set the external id and global key that other tools name the media by",
        description=(
            "Ango label files name assets by `externalId`, Labelbox files data rows by `globalKey`: giving an "
            "uploaded image these lets such files match it. A field left out is unchanged; `global_key: null` "
            "removes the key. A global key another live media of the organisation has (in any case) answers "
            "409 `global_key_taken` located at `global_key`; a key that breaks the rules 400 `invalid_global_key`."
        ),
        request=MediaKeysInputSerializer,
        responses={200: MediaOutputSerializer, **ERRORS_WITH_CONFLICT},
    )
    def patch(self, request: Request, media_id: str) -> Response:
        data = MediaKeysInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        media = selectors.media_get_for_admin(user=request.user, media_id=media_id)
        media = services.media_keys_update(media=media, **data.validated_data)
        return Response(MediaOutputSerializer(media, context={"request": request}).data)


class MediaGetApi(APIView):
    @extend_schema(
        operation_id="media_get",
        summary="A media, with its metadata and attachments",
        description="Any member who may see the media's dataset may read it.",
        responses={200: MediaOutputSerializer, **ERRORS},
    )
    def get(self, request: Request, media_id: str) -> Response:
        media = selectors.media_get_for_user(user=request.user, media_id=media_id)
        return Response(MediaOutputSerializer(media).data)


# /api/media/{id}: GET reads it, PATCH sets its external id and global key, DELETE deletes it.
class MediaApi(MediaGetApi, MediaKeysUpdateApi, MediaDeleteApi):
    pass


class MediaKeysImportApi(UploadLimitedApi):
    parser_classes = [MultiPartParser]
    upload_limit = IMPORT_UPLOAD

    @extend_schema(
        operation_id="datasets_media_keys_import",
        summary="Give the dataset's images their external ids and global keys from a CSV or JSON mapping file",
        description=(
            "CSV with a header: `name` (the file name in the dataset) and `external_id` and/or `global_key` "
            "(`externalId`, `globalKey` too); an empty cell leaves that field as it is. JSON: a list of such "
            "objects, or an object name -> {external_id, global_key}. Every row is checked first; a file with "
            "errors changes nothing and answers 400 `invalid_media_keys` with each error at its line and column "
            "(`line 3, global_key`) or JSON pointer."
        ),
        request={"multipart/form-data": MediaKeysImportInputSerializer},
        responses={
            200: inline_serializer("MediaKeysImported", {"updated": serializers.IntegerField()}),
            **ERRORS_WITH_CONFLICT,
        },
    )
    def post(self, request: Request, dataset_id: str) -> Response:
        dataset = selectors.dataset_get_for_admin(user=request.user, dataset_id=dataset_id)
        refused = self.upload_refused()
        if refused:
            raise refused[0][1]
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed(
                code="required",
                message="Send the mapping file as a multipart part named 'file'.",
                details=[ErrorDetail("file", "required", "No file part.")],
            )
        rows = media_keys_parse(content=upload.read(), file_name=upload.name or "")
        updated = services.media_keys_import(dataset=dataset, rows=rows)
        return Response({"updated": updated})
