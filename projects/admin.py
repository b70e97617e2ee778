from django.contrib import admin

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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
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
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "media_type", "created_at", "archived_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "media_type", "created_at", "deleted_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    filter_horizontal = ["projects"]


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "source", "mime_type", "width", "height", "global_key", "deleted_at"]
    list_filter = ["source", "mime_type"]
    search_fields = ["name", "global_key", "external_id"]
    raw_id_fields = ["dataset", "organization"]
