import pytest
from django.db import IntegrityError, transaction

from labeling.models import Task
from projects.services import dataset_connect
from tests.factories import DatasetFactory, MediaFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_global_key_is_unique_per_organization_case_insensitively():
    media = MediaFactory(global_key="Key-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaFactory(dataset=DatasetFactory(organization=media.organization), global_key="key-1")


def test_connecting_a_dataset_creates_a_task_for_each_media():
    project = ProjectFactory()
    dataset = DatasetFactory(organization=project.organization)
    MediaFactory.create_batch(5, dataset=dataset)
    dataset_connect(dataset=dataset, project=project)
    assert Task.objects.filter(project=project).count() == 5
