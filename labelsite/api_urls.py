"""The native API under /api/: its schema and documentation, then each app's routes.

labelsite/urls.py includes the DataGym v1 routes (all of /api/v1/) before this module, so
nothing here may start with `v1/`. Paths have no trailing slash. An app adds its API by
one `include` line before the catch-all at the end (which answers unknown /api/ paths
with the JSON error shape instead of an HTML page).
"""

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from labelsite.api import not_found

#: Swagger UI and Redoc inject their styles inline and draw icons from data: URLs, and Redoc searches
#: in a worker it makes from a blob: so their two pages (and only they) allow these; scripts stay
#: 'self' (the split view serves Swagger's set-up script from a URL, not inline), and
#: templates/drf_spectacular/redoc.html drops Redoc's fonts from Google.
_third_party_styles = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"], "worker-src": ["blob:"]})

urlpatterns = [
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", _third_party_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("redoc", _third_party_styles(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    # projects: projects, label configurations, datasets, media
    path("", include("projects.api_urls")),
    # labeling: tasks, annotations, labels
    path("", include("labeling.api_urls")),
    # imports: import jobs, their errors and the format registry
    path("", include("imports.api_urls")),
    path("", include("exports.api_urls")),  # exports: jobs, downloads, formats
    path("", include("brush.api_urls")),  # brush: strokes traced into segmentations
    path("", include("assist.api_urls")),  # assisted segmentation: GrabCut, magic wand, scissors on a task's image
    path("", include("projects.setup_api_urls")),  # project setup: config checks, members, tokens
    path("", include("ml.api_urls")),  # model servers: connections, pre-label jobs, interactive calls
    # Unknown paths under /api/ answer the JSON 404; keep this last.
    re_path(r"^[\s\S]*$", not_found),  # [\s\S], not ".": a path with a newline in it is an API path too
]
