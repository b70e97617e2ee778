import io

import pytest
from PIL import Image

from projects.services import dataset_connect, media_create_from_file
from tests.factories import DatasetFactory, MediaFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_member_gets_the_stored_image_and_another_organization_gets_404(
    client, admin_user, organization, project, media_storage
):
    dataset = DatasetFactory(organization=organization)
    dataset_connect(dataset=dataset, project=project)
    media = media_create_from_file(dataset=dataset, name="a.png", content=_png())
    client.force_login(admin_user)
    response = client.get(f"/media/{media.id}/file")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == _png()

    stranger = UserFactory()
    from tests.factories import MembershipFactory

    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="admin")
    client.force_login(stranger)
    assert client.get(f"/media/{media.id}/file").status_code == 404


def test_url_media_redirect_to_their_url_and_anonymous_users_log_in_first(client, admin_user, organization):
    media = MediaFactory(dataset=DatasetFactory(organization=organization))
    assert client.get(f"/media/{media.id}/file").status_code == 302
    assert "/login/" in client.get(f"/media/{media.id}/file")["Location"]
    client.force_login(admin_user)
    response = client.get(f"/media/{media.id}/file")
    assert response.status_code == 302
    assert response["Location"] == media.url
