"""URL routes: pages, the native API under /api/, the DataGym v1 API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from labelsite.pages import favicon

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    # Before every other API route: it answers all of /api/v1/ in DataGym's shapes.
    path("", include("datagym_v1.api_urls")),
    # The native API; after DataGym's routes, which answer every path under /api/v1/.
    path("api/", include("labelsite.api_urls")),
    path("", include("projects.page_urls")),
    path("", include("projects.setup_urls")),  # project setup: settings, editor, datasets, members, tokens
    path("", include("labeling.page_urls")),
    path("", include("imports.page_urls")),
    path("", include("exports.page_urls")),
]
