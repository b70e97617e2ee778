from django.contrib import admin

from exports.models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "project", "format", "status", "tasks_done", "tasks_total", "created_at"]
    list_filter = ["status", "format"]
    raw_id_fields = ["project", "created_by"]
    readonly_fields = ["file", "file_size", "started_at", "finished_at", "heartbeat_at"]
