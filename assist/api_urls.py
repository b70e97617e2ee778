"""Routes of the assist API, mounted under /api/ by labelsite/api_urls.py."""

from django.urls import path

from assist import api

urlpatterns = [
    path("tasks/<uuid:task_id>/assist/grabcut", api.GrabcutApi.as_view(), name="api-task-assist-grabcut"),
    path("tasks/<uuid:task_id>/assist/magic-wand", api.MagicWandApi.as_view(), name="api-task-assist-magic-wand"),
    path("tasks/<uuid:task_id>/assist/scissors", api.ScissorsApi.as_view(), name="api-task-assist-scissors"),
]
