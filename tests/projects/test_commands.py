from io import StringIO

import pytest
from django.core.management import call_command

from labeling.models import Label, Task, TaskState
from projects.models import ApiToken, Media, Membership, Project
from projects.services import api_token_authenticate, token_hash

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_only_a_token_that_authenticates_as_an_organization_admin():
    out = StringIO()
    call_command("create_api_token", "Acme", stdout=out)
    raw = out.getvalue().strip()
    assert "\n" not in raw
    assert len(raw) >= 40
    token = api_token_authenticate(raw=raw)
    assert token is not None
    assert token.organization.name == "Acme"
    assert token.user is None
    # Stored hashed: the secret itself is nowhere in the table.
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    assert token.key_hash == token_hash(raw)


def test_create_api_token_for_a_user_creates_the_user_as_member():
    out = StringIO()
    call_command("create_api_token", "Acme", "--user", "robot", "--role", "annotator", stdout=out)
    token = api_token_authenticate(raw=out.getvalue().strip())
    assert token is not None
    assert token.user is not None
    assert token.user.username == "robot"
    assert Membership.objects.get(user=token.user).role == "annotator"
    assert not token.user.has_usable_password()


def test_revoked_token_no_longer_authenticates():
    from projects.services import api_token_revoke

    out = StringIO()
    call_command("create_api_token", "Acme", stdout=out)
    raw = out.getvalue().strip()
    token = api_token_authenticate(raw=raw)
    assert token is not None
    api_token_revoke(token=token)
    assert api_token_authenticate(raw=raw) is None


def test_seed_demo_creates_a_labeled_project_once(media_storage):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    project = Project.objects.get(name="Street scenes")
    assert Project.objects.count() == 1
    assert Task.objects.filter(project=project).count() == 12
    # DataGym's documented configuration and a segmentation class, with the schema ids the Ango examples use.
    roots = project.label_configuration.entries.filter(parent__isnull=True)
    assert list(roots.values_list("schema_id", flat=True)) == [
        "demo-bus",
        "demo-car",
        "demo-street",
        "demo-poi",
        "demo-sky",
        "demo-weather",
        "demo-comment",
    ]
    # The file names as external ids and global keys: the Ango and Labelbox examples find the images by them.
    media = Media.objects.get(name="street_09.jpg")
    assert (media.external_id, media.global_key) == ("street_09.jpg", "street_09.jpg")
    wheels = Label.objects.filter(task__project=project, entry__key="wheel")
    assert wheels.exists()
    assert all(wheel.parent is not None and wheel.parent.entry.key == "car" for wheel in wheels)
    assert Task.objects.filter(project=project, state=TaskState.COMPLETED).count() == 2
    assert Label.objects.filter(task__project=project, source="prediction", score__isnull=False).exists()
