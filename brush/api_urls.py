"""Routes of the brush API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from brush import api

urlpatterns = [
    path("tasks/<uuid:task_id>/brush", api.BrushStrokeApi.as_view(), name="api-task-brush"),
]
