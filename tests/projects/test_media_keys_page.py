"""The dataset page's form for a mapping file: file name -> external id, global key."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Media
from tests.factories import MediaFactory
from tests.projects.test_pages import admin_client, dataset, upload_file

__all__ = ["admin_client", "dataset"]  # fixtures used here

pytestmark = pytest.mark.django_db


def post_keys(client: Client, dataset, content: bytes):
    url = reverse("dataset-media-keys", kwargs={"dataset_id": dataset.pk})
    return client.post(url, {"file": upload_file("keys.csv", content)}, follow=True)


def test_the_dataset_page_offers_the_mapping_file_form_to_admins(admin_client, dataset):
    html = admin_client.get(reverse("dataset-detail", kwargs={"dataset_id": dataset.pk})).content.decode()

    assert reverse("dataset-media-keys", kwargs={"dataset_id": dataset.pk}) in html
    assert 'name="file"' in html


def test_a_mapping_file_sets_the_keys_and_says_how_many(admin_client, dataset):
    MediaFactory(dataset=dataset, name="a.jpg")

    response = post_keys(admin_client, dataset, b"name,external_id,global_key\na.jpg,asset-a,key-a\n")

    assert response.status_code == 200
    assert "1 image" in response.content.decode()
    assert Media.objects.values_list("external_id", "global_key").get() == ("asset-a", "key-a")


def test_a_mapping_file_with_errors_shows_each_at_its_line_and_changes_nothing(admin_client, dataset):
    MediaFactory(dataset=dataset, name="a.jpg")

    response = post_keys(admin_client, dataset, b"name,external_id\na.jpg,asset-a\nnope.jpg,asset-b\n")

    html = response.content.decode()
    assert "line 3, name" in html
    assert "nope.jpg" in html
    assert Media.objects.values_list("external_id", flat=True).get() == ""
