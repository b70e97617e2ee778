"""`manage.py seed_demo`: a demo organisation, admin, project, a dozen images and labels."""

from __future__ import annotations

import io
import random
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from PIL import Image, ImageDraw, ImageFilter

from labeling.models import Label, LabelSource, Task, TaskState
from projects.config_templates import DATAGYM_EXAMPLE
from projects.media_keys import MediaKeysRow
from projects.models import Membership, Organization, Project, Role
from projects.services import (
    dataset_connect,
    dataset_create,
    media_create_from_file,
    media_keys_import,
    membership_set,
    organization_get_or_create,
    project_create,
)

DEMO_ORGANIZATION = "Demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "labelsite-demo"  # noqa: S105 - printed to the person who runs the demo


def _demo_configuration(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DataGym's example with fixed schema ids (`demo-<key>`), so that the Ango examples
    (formats/examples) can name the categories by schemaId as Ango files do."""
    return [
        {
            **entry,
            "schema_id": "demo-" + entry["key"].replace("_", "-"),
            **({"children": _demo_configuration(entry["children"])} if entry.get("children") else {}),
        }
        for entry in entries
    ]


#: The configuration of DataGym's documented example, also offered by the editor's template
#: gallery, with schema ids and a segmentation class (what the brush-mask and Ango examples draw).
DEMO_CONFIGURATION: list[dict[str, Any]] = _demo_configuration(
    [
        *[entry for entry in DATAGYM_EXAMPLE if entry["key"] != "weather" and entry["key"] != "comment"],
        {"key": "sky", "title": "Sky", "type": "segmentation", "color": "#46f0f0", "shortcut": "6"},
        *[entry for entry in DATAGYM_EXAMPLE if entry["key"] in ("weather", "comment")],
    ]
)

IMAGE_COUNT = 12
WIDTH, HEIGHT = 960, 640


def _scene(rng: random.Random, index: int) -> tuple[bytes, dict[str, list[Any]]]:
    """A street scene drawn locally: sky, road, a bus, cars with wheels. Returns JPEG bytes."""
    night = index % 4 == 3
    sky = (20, 24, 60) if night else (120 + rng.randint(0, 60), 170 + rng.randint(0, 40), 230)
    image = Image.new("RGB", (WIDTH, HEIGHT), sky)
    draw = ImageDraw.Draw(image)
    horizon = 330 + rng.randint(-30, 30)
    draw.rectangle([0, horizon, WIDTH, HEIGHT], fill=(70, 70, 75))
    draw.line([(0, HEIGHT - 60), (WIDTH, horizon + 40)], fill=(240, 240, 240), width=6)
    for _ in range(6):  # buildings
        x = rng.randint(0, WIDTH - 120)
        h = rng.randint(80, 220)
        draw.rectangle([x, horizon - h, x + rng.randint(60, 140), horizon], fill=(rng.randint(90, 160),) * 3)
    bus_x, bus_y = rng.randint(40, 500), horizon + rng.randint(-60, 10)
    bus = [bus_x, bus_y, rng.randint(220, 320), rng.randint(110, 150)]
    draw.rectangle([bus[0], bus[1], bus[0] + bus[2], bus[1] + bus[3]], fill=(230, 180, 30), outline=(40, 40, 40))
    cars = []
    for _ in range(rng.randint(1, 3)):
        cx, cy = rng.randint(60, WIDTH - 220), rng.randint(horizon + 90, HEIGHT - 90)
        outline = [[cx, cy], [cx + 40, cy - 45], [cx + 140, cy - 45], [cx + 180, cy]]
        outline += [[cx + 180, cy + 40], [cx, cy + 40]]
        draw.polygon([tuple(p) for p in outline], fill=(rng.randint(20, 220), 60, rng.randint(60, 200)))
        wheels = [[cx + 35, cy + 40], [cx + 145, cy + 40]]
        for wx, wy in wheels:
            draw.ellipse([wx - 16, wy - 16, wx + 16, wy + 16], fill=(15, 15, 15))
        cars.append({"outline": outline, "wheels": wheels})
    image = image.filter(ImageFilter.SMOOTH)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    street = [[0, HEIGHT - 60], [WIDTH, horizon + 40]]
    return buffer.getvalue(), {"bus": bus, "cars": cars, "street": street, "night": [night]}


class Command(BaseCommand):
    help = "Create a demo organisation, user, project and dataset with labels (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=DEMO_PASSWORD, help="the demo user's password")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
        if organization is not None and Project.objects.filter(organization=organization).exists():
            self.stdout.write("The demo exists already.")
        else:
            self._create(password=options["password"])
            self.stdout.write(self.style.SUCCESS("Created the demo organisation, project and images."))
        self.stdout.write(
            f"Open http://127.0.0.1:8000/ and log in as {DEMO_USERNAME!r} with password {options['password']!r}."
        )

    @transaction.atomic
    def _create(self, *, password: str) -> None:
        organization = organization_get_or_create(name=DEMO_ORGANIZATION)
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = user_model.objects.create_user(username=DEMO_USERNAME, password=password)
        if not Membership.objects.filter(organization=organization, user=user).exists():
            membership_set(organization=organization, user=user, role=Role.ADMIN)
        project = project_create(
            organization=organization,
            name="Street scenes",
            short_description="Buses, cars and their wheels",
            description="A demo project with the label configuration of DataGym's documentation.",
            label_configuration=DEMO_CONFIGURATION,
        )
        project.members.add(user)
        dataset = dataset_create(organization=organization, name="Street scenes demo")
        dataset_connect(dataset=dataset, project=project)
        entries = {entry.key: entry for entry in project.label_configuration.entries.all()}
        rng = random.Random(7)  # noqa: S311 - a fixed seed makes the same demo every time
        names: list[str] = []
        for index in range(IMAGE_COUNT):
            content, truth = _scene(rng, index)
            name = f"street_{index + 1:02d}.jpg"
            media = media_create_from_file(dataset=dataset, name=name, content=content)
            names.append(name)
            if index >= 6:
                continue  # half of the images are left for the person to label
            task = Task.objects.get(project=project, media=media)
            self._label(task=task, entries=entries, truth=truth, user=user, index=index)
        # The file name as external id (Ango's externalId) and global key (Labelbox's globalKey):
        # the example files of those formats find the demo's images by them.
        media_keys_import(
            dataset=dataset,
            rows=[
                MediaKeysRow(place=name, field_place=name, name=name, external_id=name, global_key=name)
                for name in names
            ],
        )

    def _label(self, *, task: Task, entries: dict[str, Any], truth: dict[str, Any], user: Any, index: int) -> None:
        # Even images carry imported labels; odd ones carry a model's predictions to accept.
        source = LabelSource.IMPORT if index % 2 == 0 else LabelSource.PREDICTION
        score = None if source == LabelSource.IMPORT else round(0.6 + 0.05 * index, 2)
        model_version = "" if source == LabelSource.IMPORT else "demo-detector-1"
        x, y, w, h = truth["bus"]
        Label.objects.create(
            task=task,
            entry=entries["bus"],
            points=[[x, y], [x + w, y + h]],
            source=source,
            score=score,
            model_version=model_version,
        )
        for car in truth["cars"]:
            parent = Label.objects.create(
                task=task,
                entry=entries["car"],
                points=car["outline"],
                answers={"car_type": {"value": "suv" if index % 3 else "van"}},
                source=source,
                score=score,
                model_version=model_version,
            )
            Label.objects.bulk_create(
                Label(task=task, entry=entries["wheel"], parent=parent, points=[wheel], source=source, score=score)
                for wheel in car["wheels"]
            )
        Label.objects.create(task=task, entry=entries["street"], points=truth["street"], source=source, score=score)
        night = truth["night"][0]
        task.answers = {"weather": {"value": "sunny", "answers": {"daytime": {"value": "night" if night else "day"}}}}
        task.has_import = True
        if index < 2:
            task.state = TaskState.COMPLETED
            task.assignee = user
        task.save(update_fields=["answers", "has_import", "state", "assignee"])
