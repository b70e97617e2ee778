from django.contrib import admin

from labeling.models import Label, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "media", "state", "assignee", "updated_at"]
    list_filter = ["state"]
    raw_id_fields = ["project", "media", "assignee"]
    search_fields = ["media__name"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["id", "task", "entry", "source", "valid", "score", "created_at"]
    list_filter = ["source", "valid"]
    raw_id_fields = ["task", "entry", "parent", "author"]
