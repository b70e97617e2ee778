"""The world of the security tests: the native API's world plus jobs, a token id and page clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from exports.models import ExportJob, ExportStatus
from imports.models import ImportJob, ImportStatus
from ml.models import JobStatus, MLBackend, PredictionAcceptJob, PrelabelJob
from projects.models import ApiToken
from tests.api.conftest import World, fast_password_hashing, world
from tests.imports.conftest import configured_project, dataset, make_task, task

__all__ = [
    "SecurityWorld",
    "configured_project",
    "dataset",
    "fast_password_hashing",
    "make_task",
    "security_world",
    "task",
    "world",
]


@dataclass
class SecurityWorld:
    base: World
    import_job: ImportJob
    export_job: ExportJob
    token: ApiToken
    ml_backend: MLBackend | None = None
    prelabel_job: PrelabelJob | None = None
    accept_job: PredictionAcceptJob | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def page_client(self, actor: str) -> Client:
        """A browser session: anonymous, or logged in as a user of either organisation."""
        client = Client()
        users = {
            "annotator": self.base.annotator,
            "reviewer": self.base.reviewer,
            "admin": self.base.admin,
            "other_org": self.other_admin,
        }
        if actor in users:
            client.force_login(users[actor])
        elif actor == "revoked":
            # A browser that carries a (revoked) token: pages use sessions only, so it is anonymous.
            client.defaults["HTTP_AUTHORIZATION"] = f"Token {self.base.tokens['revoked']}"
        return client

    def user_of(self, actor: str) -> Any:
        users = {"annotator": self.base.annotator, "reviewer": self.base.reviewer, "admin": self.base.admin}
        return users.get(actor) or self.other_admin

    @property
    def other_admin(self) -> Any:
        return self.base.other_organization.memberships.get(role="admin").user


@pytest.fixture
def security_world(world: World, media_storage: Any) -> SecurityWorld:
    import_job = ImportJob.objects.create(
        project=world.project,
        created_by=world.admin,
        format="datagym",
        file=ContentFile(b"[]", name="labels.json"),
        file_name="labels.json",
        status=ImportStatus.VALIDATED,
    )
    export_job = ExportJob.objects.create(
        project=world.project,
        created_by=world.admin,
        format="datagym",
        status=ExportStatus.SUCCEEDED,
        file=ContentFile(b"[]", name="export.json"),
        file_name="export.json",
    )
    token = ApiToken.objects.filter(organization=world.organization, user=world.annotator).get()
    # A model server on an address no allow-list names: every call to it is refused without a
    # connection, so the routes answer (down, 409) without a network.
    ml_backend = MLBackend.objects.create(
        project=world.project, title="Model", url="http://127.0.0.1:9", interactive=True
    )
    prelabel_job = PrelabelJob.objects.create(backend=ml_backend, project=world.project, status=JobStatus.SUCCEEDED)
    accept_job = PredictionAcceptJob.objects.create(project=world.project, min_score=0.5, status=JobStatus.SUCCEEDED)
    return SecurityWorld(
        base=world,
        import_job=import_job,
        export_job=export_job,
        token=token,
        ml_backend=ml_backend,
        prelabel_job=prelabel_job,
        accept_job=accept_job,
    )
