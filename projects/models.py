"""Organisations, members, API tokens, projects, datasets, media and the label configuration."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from labelsite.ids import time_ordered_id


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the organisation's one chain of media-probe batches was last queued or took a batch
    # (projects/media_probe.py); NULL when no chain runs. One chain per organisation is its fair share.
    media_probe_queued_at = models.DateTimeField(null=True, blank=True)
    # Until when the chain leaves the workers to an import of the organisation (renewed while the
    # import runs, cleared when it ends): probing would hold one of the import's worker slots.
    media_probe_paused_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_organization"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class MembershipInvitation(models.Model):
    """An admin's offer of a membership, which only the invited user can accept (or decline).

    It is recorded for whatever user name the admin typed, kept as typed: `user` is the account
    of that name when the invitation was made, or NULL when there was none (such an invitation
    reaches nobody, even if the name is taken later). The admin sees every invitation the same
    way, "Invited", whether an account exists, is pending or has declined, so that the members
    page tells nothing about accounts outside the organisation. Accepting turns it into a
    `Membership` and deletes it; declining marks it, for the invited user only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    username = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # SET_NULL, not CASCADE: a deleted account must not make its invitation vanish from the admin's list.
        on_delete=models.SET_NULL,
        related_name="membership_invitations",
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    project = models.ForeignKey("Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(
                Lower("username"), "organization", name="membershipinvitation_unique_organization_username"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membershipinvitation_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.username} invited to {self.organization} ({self.role})"


class ApiToken(models.Model):
    """A secret that a script sends instead of a session.

    Only the SHA-256 of the secret is stored: tokens are 256-bit random strings, so a fast
    hash is enough and lets each request find its token with one indexed lookup. A token
    without a user acts as an admin of its organisation (as DataGym's tokens do); a token
    with a user acts as that user.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=128, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="The first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name or 'token'} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MediaType(models.TextChoices):
    IMAGE = "IMAGE", "Image"


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=128)
    short_description = models.CharField(max_length=128, blank=True)
    description = models.TextField(blank=True)
    media_type = models.CharField(max_length=16, choices=MediaType.choices, default=MediaType.IMAGE)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LabelConfiguration(models.Model):
    """The tree of label entries of a project: exactly one per project, with its own id."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="label_configuration")
    # The data key of the image in Label Studio tasks (`<Image value="$image">` of the XML config
    # the configuration was made from): Label Studio imports read the image from it by default.
    image_field = models.CharField(max_length=100, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Configuration of {self.project}"


class LabelIteration(models.Model):
    """A labeling round of a project (DataGym exposes its id); one per project for now."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="label_iteration")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Iteration of {self.project}"


class EntryType(models.TextChoices):
    RECTANGLE = "rectangle", "Rectangle"
    POLYGON = "polygon", "Polygon"
    LINE = "line", "Line"
    POINT = "point", "Point"
    SEGMENTATION = "segmentation", "Segmentation"
    SELECT = "select", "Select"
    CHECKLIST = "checklist", "Checklist"
    FREETEXT = "freetext", "Free text"


GEOMETRY_TYPES = frozenset(
    {EntryType.RECTANGLE, EntryType.POLYGON, EntryType.LINE, EntryType.POINT, EntryType.SEGMENTATION}
)
CLASSIFICATION_TYPES = frozenset({EntryType.SELECT, EntryType.CHECKLIST, EntryType.FREETEXT})


class LabelEntry(models.Model):
    """One geometry class or classification question in a label configuration tree."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    configuration = models.ForeignKey(LabelConfiguration, on_delete=models.CASCADE, related_name="entries")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    position = models.PositiveIntegerField(default=0)
    key = models.CharField(max_length=56)
    title = models.CharField(max_length=128)
    type = models.CharField(max_length=16, choices=EntryType.choices)
    schema_id = models.CharField(max_length=64)
    color = models.CharField(max_length=32, blank=True)
    shortcut = models.CharField(max_length=1, blank=True)
    required = models.BooleanField(default=False)
    # A rectangle class whose boxes the labeling page lets annotators turn (handle and keys).
    # Imported rotated boxes keep their rotation in any rectangle class; this only adds the tools.
    rotatable = models.BooleanField(default=False, db_default=False)
    max_length = models.PositiveIntegerField(null=True, blank=True)
    # Ordered list of {"key", "label", "schema_id"}; options are read with their question.
    options = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = "label entries"
        constraints = [
            models.UniqueConstraint(fields=["configuration", "schema_id"], name="labelentry_unique_schema_id"),
            models.CheckConstraint(condition=Q(type__in=EntryType.values), name="labelentry_type_valid"),
            models.CheckConstraint(condition=Q(key=Lower("key")), name="labelentry_key_lower_case"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.type})"

    @property
    def is_geometry(self) -> bool:
        return self.type in GEOMETRY_TYPES


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=128)
    short_description = models.CharField(max_length=128, blank=True)
    media_type = models.CharField(max_length=16, choices=MediaType.choices, default=MediaType.IMAGE)
    projects = models.ManyToManyField(Project, blank=True, related_name="datasets")
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=Q(deleted_at__isnull=True),
                name="dataset_unique_live_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MediaSource(models.TextChoices):
    LOCAL = "LOCAL", "Uploaded file"
    URL = "URL", "URL"
    S3 = "S3", "S3 object"


def media_upload_to(instance: Media, filename: str) -> str:
    # A fresh folder per media keeps user-chosen names from colliding or escaping.
    return f"media/{instance.dataset_id}/{instance.id}/{filename}"


class Media(models.Model):
    # Time-ordered: media are added by the hundred thousand (labelsite/ids.py).
    id = models.UUIDField(primary_key=True, default=time_ordered_id, editable=False)
    # Denormalised from the dataset so that the database enforces global keys per organisation.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="media")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="media")
    name = models.CharField(max_length=255)
    source = models.CharField(max_length=8, choices=MediaSource.choices, default=MediaSource.LOCAL)
    file = models.FileField(upload_to=media_upload_to, max_length=512, blank=True)
    url = models.CharField(max_length=2048, blank=True, help_text="The URL, or s3://bucket/key")
    mime_type = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # NULL, not '', is "no global key": the partial unique index must not see empty keys.
    global_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    external_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The worker's probe (projects/media_probe.py): size and thumbnail. NULL while pending;
    # `probe_error` says why it failed for good; a transient failure waits until `probe_after`.
    probed_at = models.DateTimeField(null=True, blank=True)
    probe_error = models.CharField(max_length=500, blank=True)
    probe_attempts = models.PositiveSmallIntegerField(default=0)
    probe_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "media"
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "name"], condition=Q(deleted_at__isnull=True), name="media_unique_live_name"
            ),
            models.UniqueConstraint(
                Lower("global_key"),
                "organization",
                condition=Q(deleted_at__isnull=True, global_key__isnull=False),
                name="media_unique_live_global_key",
            ),
            # A URL media without a global key is its URL: an import's chunks creating the same
            # URL at once get one media (INSERT ... ON CONFLICT DO NOTHING, then a lookup).
            models.UniqueConstraint(
                fields=["dataset", "url"],
                condition=Q(deleted_at__isnull=True, global_key__isnull=True, source=MediaSource.URL),
                name="media_unique_live_url",
            ),
            models.CheckConstraint(condition=Q(source__in=MediaSource.values), name="media_source_valid"),
        ]
        indexes = [
            models.Index(fields=["dataset", "created_at"], name="media_dataset_created"),
            # The worker's queue of media to probe, per organisation: small, as probes finish.
            models.Index(
                fields=["organization", "created_at"], condition=Q(probed_at__isnull=True), name="media_probe_pending"
            ),
            # The few deleted media, which lists of tasks leave out (labeling.browser_selectors).
            models.Index(fields=["organization"], condition=Q(deleted_at__isnull=False), name="media_deleted"),
            # The task browser's sort by name walks this instead of sorting every task's media.
            models.Index(fields=["name"], name="media_name"),
        ]

    def __str__(self) -> str:
        return self.name
