"""URL routes: pages, the native API under /api/, the DataGym v1 API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before every other API route: it answers all of /api/v1/ in DataGym's shapes.
    path("", include("datagym_v1.urls")),
    path("", include("projects.urls")),
]
