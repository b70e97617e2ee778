from django.contrib import admin

from ml.models import MLBackend, PredictionAcceptJob, PrelabelJob


@admin.register(MLBackend)
class MLBackendAdmin(admin.ModelAdmin):
    list_display = ("title", "url", "project", "state", "model_version", "interactive", "checked_at")
    exclude = ("auth_header_value", "token_nonce")


@admin.register(PrelabelJob)
class PrelabelJobAdmin(admin.ModelAdmin):
    list_display = ("id", "backend", "status", "tasks_done", "tasks_total", "created_at")
    exclude = ("task_ids",)


@admin.register(PredictionAcceptJob)
class PredictionAcceptJobAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "min_score", "model_version", "status", "accepted", "created_at")
