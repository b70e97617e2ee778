from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from projects.label_config import label_configs_lock
from projects.models import (
    ApiToken,
    Dataset,
    LabelConfiguration,
    LabelEntry,
    LabelIteration,
    Media,
    Membership,
    MembershipInvitation,
    Organization,
    Project,
)


class LabelsHeldDeleteAdmin(admin.ModelAdmin):
    """An admin whose deletes take projects' tasks with them (by cascade): the projects'
    configurations are locked first, in the delete's transaction, as `project_delete` does, so
    that no label is written meanwhile to a task being deleted (labels have no foreign key to
    their task, see `Label.task`)."""

    #: The lookup from a project to the objects of this admin (the projects whose tasks go).
    projects_lookup = ""

    def _projects_lock(self, queryset: QuerySet[Any]) -> None:
        label_configs_lock(
            project_ids=Project.objects.filter(**{f"{self.projects_lookup}__in": queryset}).values_list("pk", flat=True)
        )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        with transaction.atomic():
            self._projects_lock(type(obj)._default_manager.filter(pk=obj.pk))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            self._projects_lock(queryset)
            super().delete_queryset(request, queryset)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(LabelsHeldDeleteAdmin):
    projects_lookup = "organization"
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "organization__name"]


@admin.register(MembershipInvitation)
class MembershipInvitationAdmin(admin.ModelAdmin):
    # Staff see what the organisation's admin does not: the account and whether it declined.
    list_display = ["username", "organization", "role", "user", "created_at", "declined_at"]
    list_filter = ["role"]
    search_fields = ["username", "organization__name"]
    raw_id_fields = ["user", "invited_by", "project"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # The secret is never stored; the admin shows only its prefix and hash.
    list_display = ["name", "prefix", "organization", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["organization"]
    readonly_fields = ["key_hash", "prefix", "created_at", "last_used_at"]
    search_fields = ["name", "prefix"]


class LabelEntryInline(admin.TabularInline):
    model = LabelEntry
    extra = 0
    fields = ["key", "title", "type", "parent", "schema_id", "color", "shortcut", "required", "rotatable", "position"]
    raw_id_fields = ["parent"]


@admin.register(LabelConfiguration)
class LabelConfigurationAdmin(admin.ModelAdmin):
    list_display = ["project", "updated_at"]
    inlines = [LabelEntryInline]


@admin.register(LabelIteration)
class LabelIterationAdmin(admin.ModelAdmin):
    list_display = ["project", "created_at"]


@admin.register(LabelEntry)
class LabelEntryAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "type", "configuration", "parent", "schema_id"]
    list_filter = ["type"]
    search_fields = ["key", "title", "schema_id"]
    raw_id_fields = ["parent", "configuration"]


@admin.register(Project)
class ProjectAdmin(LabelsHeldDeleteAdmin):
    projects_lookup = "pk"
    list_display = ["name", "organization", "media_type", "created_at", "archived_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(Dataset)
class DatasetAdmin(LabelsHeldDeleteAdmin):
    projects_lookup = "tasks__media__dataset"
    list_display = ["name", "organization", "media_type", "created_at", "deleted_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    filter_horizontal = ["projects"]


@admin.register(Media)
class MediaAdmin(LabelsHeldDeleteAdmin):
    projects_lookup = "tasks__media"
    list_display = ["name", "dataset", "source", "mime_type", "width", "height", "global_key", "deleted_at"]
    list_filter = ["source", "mime_type"]
    search_fields = ["name", "global_key", "external_id"]
    raw_id_fields = ["dataset", "organization"]
