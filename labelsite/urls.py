"""URL routes: pages, the native API under /api/, the DataGym v1 API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
]
