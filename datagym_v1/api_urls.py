"""Routes of the DataGym v1 API.

The `datagym` client uses every path without a trailing slash; one is tolerated too, so
that Django's APPEND_SLASH never redirects (a redirected POST would arrive as a GET).
`/api/v1/image/...` is the older name of `/api/v1/media/...`. Anything else under
`/api/v1/` answers DataGym's 404 body.
"""

from django.urls import re_path

from datagym_v1 import api

ID = r"(?P<{}>[^/]+)"
MEDIA = r"(?:media|image)"

urlpatterns = [
    re_path(r"^api/v1/project/?$", api.ProjectListView.as_view(), name="datagym-project-list"),
    re_path(
        r"^api/v1/dataset/?$",
        api.by_method(get=api.DatasetListView, post=api.DatasetCreateView),
        name="datagym-dataset-list",
    ),
    re_path(rf"^api/v1/dataset/{ID.format('dataset_id')}/?$", api.DatasetGetView.as_view(), name="datagym-dataset"),
    re_path(
        rf"^api/v1/project/{ID.format('project_id')}/dataset/{ID.format('dataset_id')}/remove/?$",
        api.DatasetDisconnectView.as_view(),
        name="datagym-dataset-disconnect",
    ),
    re_path(
        rf"^api/v1/project/{ID.format('project_id')}/dataset/{ID.format('dataset_id')}/?$",
        api.DatasetConnectView.as_view(),
        name="datagym-dataset-connect",
    ),
    re_path(
        rf"^api/v1/project/{ID.format('project_id')}/prediction/?$",
        api.PredictionImportView.as_view(),
        name="datagym-prediction-import",
    ),
    re_path(
        rf"^api/v1/{MEDIA}/{ID.format('dataset_id')}/url/?$",
        api.MediaUrlImportView.as_view(),
        name="datagym-media-urls",
    ),
    re_path(
        rf"^api/v1/{MEDIA}/{ID.format('dataset_id')}/file/?$",
        api.MediaUploadView.as_view(),
        name="datagym-media-upload",
    ),
    re_path(
        rf"^api/v1/{MEDIA}/{ID.format('media_id')}/?$",
        api.by_method(get=api.MediaDownloadView, delete=api.MediaDeleteView),
        name="datagym-media",
    ),
    re_path(
        rf"^api/v1/export/bitmap/{ID.format('task_id')}/{ID.format('entry_key')}/?$",
        api.SegmentationBitmapView.as_view(),
        name="datagym-export-bitmap",
    ),
    re_path(rf"^api/v1/export/{ID.format('project_id')}/?$", api.ExportView.as_view(), name="datagym-export"),
    re_path(
        rf"^api/v1/config/{ID.format('config_id')}/?$",
        api.by_method(delete=api.ConfigClearView, put=api.ConfigReplaceView),
        name="datagym-config",
    ),
    re_path(rf"^api/v1/task/{ID.format('project_id')}/list/?$", api.TaskListView.as_view(), name="datagym-task-list"),
    re_path(rf"^api/v1/task/{ID.format('task_id')}/skipTask/?$", api.TaskSkipView.as_view(), name="datagym-task-skip"),
    re_path(
        rf"^api/v1/task/{ID.format('task_id')}/completeTask/?$",
        api.TaskCompleteView.as_view(),
        name="datagym-task-complete",
    ),
    re_path(rf"^api/v1/task/{ID.format('task_id')}/?$", api.TaskGetView.as_view(), name="datagym-task"),
    re_path(r"^api/v1(?:/[\s\S]*)?$", api.unknown_path),  # [\s\S]: newlines in a path too
]
