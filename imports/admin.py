from django.contrib import admin

from imports.models import ImportJob, ImportJobError


class ImportJobErrorInline(admin.TabularInline):
    model = ImportJobError
    extra = 0
    fields = ("item_index", "location", "code", "message")
    readonly_fields = fields
    can_delete = False
    max_num = 0


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "project", "format", "status", "items_validated", "labels_written", "created_at"]
    list_filter = ["status", "format"]
    raw_id_fields = ["project", "created_by"]
    inlines = [ImportJobErrorInline]
