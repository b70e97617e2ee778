"""factory_boy factories for the models of every app."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from labeling.models import Label, Task
from projects.models import (
    Dataset,
    LabelConfiguration,
    LabelIteration,
    Media,
    MediaSource,
    Membership,
    Organization,
    Project,
    Role,
)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Organization {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("labelsite-test-password")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.ANNOTATOR


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    configuration = factory.RelatedFactory("tests.factories.LabelConfigurationFactory", factory_related_name="project")
    iteration = factory.RelatedFactory("tests.factories.LabelIterationFactory", factory_related_name="project")


class LabelConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelConfiguration

    project = factory.SubFactory(ProjectFactory, configuration=None)


class LabelIterationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelIteration

    project = factory.SubFactory(ProjectFactory, iteration=None)


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")


class MediaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Media

    dataset = factory.SubFactory(DatasetFactory)
    organization = factory.LazyAttribute(lambda m: m.dataset.organization)
    name = factory.Sequence(lambda n: f"image_{n}.jpg")
    source = MediaSource.URL
    url = factory.LazyAttribute(lambda m: f"https://images.example.com/{m.name}")
    mime_type = "image/jpeg"
    width = 640
    height = 480


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    project = factory.SubFactory(ProjectFactory)
    media = factory.SubFactory(MediaFactory, dataset__organization=factory.SelfAttribute("...project.organization"))


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    task = factory.SubFactory(TaskFactory)
    points = factory.LazyFunction(lambda: [[10, 10], [50, 40]])
