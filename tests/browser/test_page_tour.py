"""A tour of every page as admin, reviewer and annotator at 1440 and 1024 px (issue 20, points 2, 6 and 7).

On each page the tour checks that it answers 200, that every image on it loads, and that axe-core
(Deque's accessibility engine, vendored under tests/browser/assets/axe-core) finds no serious or
critical violation of WCAG 2.1 A/AA or of its best practices. A screenshot of each page goes to
$LABELSITE_SHOTS_DIR/tour (default /tmp/shots-tour) to look at.

Every page route of the URLconf is either toured here or named in NOT_TOURED with the reason, so
a page added later without a place in the tour fails `test_every_page_route_is_toured`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page

from demo.management.commands.seed_demo import DEMO_USERNAME
from imports.services import import_job_create, import_job_validate
from labeling.models import Task
from projects.media_probe import media_probe_run
from projects.models import Dataset, Project
from tests.browser.conftest import PASSWORD, log_in
from tests.browser.test_every_image_loads import images_on
from tests.factories import MembershipFactory, UserFactory
from tests.security.test_route_walk import ROUTES

pytestmark = pytest.mark.django_db(transaction=True)

AXE_VERSION = "4.14.1"
AXE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("LABELSITE_SHOTS_DIR", "/tmp/shots-tour")) / "tour"
DOCS_PAGES = Path(__file__).resolve().parents[2] / "docs" / "pages"
WIDTHS = (1440, 1024)
ROLES = ("admin", "reviewer", "annotator")
RANK = {"annotator": 1, "reviewer": 2, "admin": 3}
#: axe's impacts that fail the tour; "minor" and "moderate" findings are printed, not failed.
FAILING_IMPACTS = {"serious", "critical"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
#: The tour's pages shown in docs/pages.md (first screen of each), written to docs/pages/ when
#: LABELSITE_SCREENSHOT=1.
DOC_SHOTS = {
    ("admin", "project-detail", 1440),
    ("admin", "project-task-list", 1440),
    ("admin", "project-data", 1440),
    ("admin", "project-import", 1440),
    ("admin", "project-export", 1440),
    ("admin", "setup-project-settings", 1440),
    ("admin", "setup-project-configuration", 1440),
    ("admin", "import-job-detail", 1440),
    ("admin", "project-detail", 1024),
    ("reviewer", "project-detail", 1440),
    ("annotator", "project-list", 1440),
    ("annotator", "project-task-list", 1024),
    ("annotator", "task-label", 1440),
    ("annotator", "task-label", 1024),
}

#: axe.run on the whole document, answering each violation with its impact and where it is.
AXE_RUN = """
async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\\s+/g, " ")}`),
  }));
}
"""


@dataclass(frozen=True)
class TourPage:
    path: Callable[[Any], str]
    least_role: str = "annotator"  # who may see it: this role and the ones above
    signed_in: bool = True


#: Every page, by its URL name. A route may have several pages (a state each).
PAGES: dict[str, TourPage] = {
    "project-list": TourPage(lambda w: "/"),
    "invitation-list": TourPage(lambda w: "/invitations/"),
    "project-detail": TourPage(lambda w: f"/projects/{w.project.pk}/"),
    "project-task-list": TourPage(lambda w: f"/projects/{w.project.pk}/tasks"),
    "task-label": TourPage(lambda w: f"/tasks/{w.task.pk}/"),
    "dataset-detail": TourPage(lambda w: f"/datasets/{w.dataset.pk}/"),
    "project-data": TourPage(lambda w: f"/projects/{w.project.pk}/data"),
    "project-import": TourPage(lambda w: f"/projects/{w.project.pk}/import", "admin"),
    "project-export": TourPage(lambda w: f"/projects/{w.project.pk}/export", "reviewer"),
    "project-team-figures": TourPage(lambda w: f"/projects/{w.project.pk}/team-figures"),
    "setup-project-settings": TourPage(lambda w: f"/projects/{w.project.pk}/settings", "admin"),
    "setup-project-configuration": TourPage(lambda w: f"/projects/{w.project.pk}/configuration", "admin"),
    "setup-project-create": TourPage(lambda w: "/projects/new", "admin"),
    "setup-datasets": TourPage(lambda w: "/organization/datasets", "admin"),
    "setup-members": TourPage(lambda w: "/organization/members", "admin"),
    "setup-tokens": TourPage(lambda w: "/organization/tokens", "admin"),
    "import-job-detail": TourPage(lambda w: f"/imports/{w.import_job.pk}/", "admin"),
    "password_change": TourPage(lambda w: "/password/change/"),
    "password_change_done": TourPage(lambda w: "/password/change/done/"),
    "login": TourPage(lambda w: "/login/", signed_in=False),
    "password_reset": TourPage(lambda w: "/password/reset/", signed_in=False),
    "password_reset_done": TourPage(lambda w: "/password/reset/sent/", signed_in=False),
    "password_reset_confirm": TourPage(lambda w: w.reset_path, signed_in=False),
    "password_reset_complete": TourPage(lambda w: "/password/reset/done/", signed_in=False),
}

#: Page routes the tour does not open, and why.
NOT_TOURED: dict[str, str] = {
    "favicon": "an icon, not a page",
    "ml-media-file": "the model servers' image route, answered to a connection's token only",
    "media-file": "an image: the tour checks it loads wherever a page shows it",
    "setup-media-thumbnail": "an image: the tour checks it loads wherever a page shows it",
    "setup-dataset-media": "the JSON the dataset page's grid reads",
    "project-label-start": "a redirect to the labeling page of the next task (toured as task-label)",
    "project-review-start": "a redirect to the labeling page of the next task to review (toured as task-label)",
    "setup-project-overview": "a redirect to the project's Overview (toured as project-detail)",
}


@dataclass
class World:
    project: Project
    dataset: Dataset
    task: Task
    import_job: Any
    reset_path: str


@pytest.fixture
def world(live_server: Any, media_storage: Any) -> World:
    """The demo project with a reviewer and an annotator beside its admin, and a validated import."""
    call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Street scenes")
    media_probe_run(organization_id=project.organization_id)  # the worker's thumbnails, as after a while
    dataset = Dataset.objects.get(name="Street scenes demo")
    admin: Any = project.members.get(username=DEMO_USERNAME)
    admin.set_password(PASSWORD)
    admin.save()
    for username, role in (("rita", "reviewer"), ("annie", "annotator")):
        user: Any = UserFactory(username=username)
        MembershipFactory(user=user, organization=project.organization, role=role)
        project.members.add(user)
    task = Task.objects.filter(project=project, media__name="street_12.jpg").first()
    assert task is not None
    body = [{"data": {"image": task.media.name}, "annotations": [{"result": []}]}]
    job = import_job_create(
        project=project,
        user=admin,
        file=json.dumps(body).encode(),
        file_name="tasks.json",
        format="label_studio",
        options={"match_by": "name"},
    )
    job = import_job_validate(job_id=job.id)
    uid = urlsafe_base64_encode(force_bytes(admin.pk))
    reset_path = f"/password/reset/{uid}/{default_token_generator.make_token(admin)}/"
    return World(project=project, dataset=dataset, task=task, import_job=job, reset_path=reset_path)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate runs in the page's world without a <script> tag, so the pages' CSP does not refuse it
        page.evaluate(AXE.read_text(encoding="utf-8"))
    assert page.evaluate("() => axe.version") == AXE_VERSION
    return list(page.evaluate(AXE_RUN, AXE_TAGS))


def test_every_page_route_is_toured() -> None:
    page_routes = {
        key for key, methods in ROUTES.items() if "get" in methods and not key.startswith(("api", "datagym", "^api"))
    }
    assert page_routes - set(PAGES) - set(NOT_TOURED) == set(), "pages with no place in the tour"
    assert set(PAGES) - page_routes == set(), "toured pages the URLconf no longer has"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_loads_its_images_and_axe_finds_nothing_serious(
    page: Page, live_server: Any, world: World, role: str
) -> None:
    username = {"admin": DEMO_USERNAME, "reviewer": "rita", "annotator": "annie"}[role]
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    toured: list[str] = []
    for signed_in in (False, True):
        if signed_in:
            log_in(page, live_server, username)
        for name, tour_page in PAGES.items():
            if tour_page.signed_in != signed_in or RANK[role] < RANK[tour_page.least_role]:
                continue
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto(f"{live_server.url}{tour_page.path(world)}")
                assert response is not None
                found: list[str] = []
                if response.status != 200:
                    found.append(f"answered {response.status}")
                page.wait_for_load_state("networkidle")
                if name == "task-label":
                    page.wait_for_selector("body[data-ready=true]")
                page.screenshot(path=str(SHOTS / f"{role}-{name}-{width}.png"), full_page=True)
                if os.environ.get("LABELSITE_SCREENSHOT") and (role, name, width) in DOC_SHOTS:
                    DOCS_PAGES.mkdir(exist_ok=True)
                    page.screenshot(path=str(DOCS_PAGES / f"{role}-{name}-{width}.png"))
                found += [f"image did not load: {src}" for src, loaded in images_on(page).items() if not loaded]
                for violation in axe_violations(page):
                    line = f"axe {violation['impact']} {violation['id']}: {violation['help']} at {violation['nodes']}"
                    if violation["impact"] in FAILING_IMPACTS:
                        found.append(line)
                    else:
                        print(f"{role} {name} {width}: {line}")
                toured.append(f"{name}@{width}")
                if found:
                    problems[f"{name}@{width}"] = found
    assert len(toured) >= 2 * len([p for p in PAGES.values() if RANK[role] >= RANK[p.least_role]])
    assert problems == {}, json.dumps(problems, indent=1)


def test_readme_screenshot_is_the_demo_labeled(page: Page, live_server: Any, world: World) -> None:
    """README's picture (docs/labeling-page.png, written when LABELSITE_SCREENSHOT=1): what a new
    user meets after `dev.py up`, the demo's first image with its imported labels, a car selected
    so that its questions show; the page draws every label the task has."""
    task = Task.objects.get(project=world.project, media__name="street_01.jpg")
    labels = task.labels.count()
    assert labels >= 4
    log_in(page, live_server, DEMO_USERNAME)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#label-count").inner_text() == str(labels)
    page.locator("#label-list button", has_text="Car").first.click()
    assert page.locator("#shape-title").inner_text().casefold() == "car"
    target = Path("docs/labeling-page.png") if os.environ.get("LABELSITE_SCREENSHOT") else SHOTS / "readme.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
