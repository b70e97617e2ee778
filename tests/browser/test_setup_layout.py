"""The setup pages look finished at 1024 and 1440 px: no column squeezed to a character per line.

Screenshots of each page at each width go to /tmp/shots-polish (or $LABELSITE_SHOTS_DIR) to look at.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page

from demo.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME
from projects.models import Dataset, Project

SHOTS = Path(os.environ.get("LABELSITE_SHOTS_DIR", "/tmp/shots-polish"))
WIDTHS = (1024, 1440)

#: Elements with text of their own that are narrower than 40 px and wrap over more than two
#: lines, or narrower than 40 px with a word of 6 characters or more: a squeezed column.
SQUEEZED = """
() => {
  const found = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent.trim()).join(" ").trim();
    if (own.length < 2) continue;
    const box = node.getBoundingClientRect();
    const style = getComputedStyle(node);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    if (node.closest("[hidden], .visually-hidden, .sr-only")) continue;
    if (box.width >= 40) continue;
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.3;
    const longest = Math.max(...own.split(/\\s+/).map((word) => word.length));
    const what = `${node.tagName.toLowerCase()}.${node.className}`;
    if (box.height > 2.5 * line || longest >= 6) found.push(`${what} ${Math.round(box.width)}px: ${own.slice(0, 40)}`);
  }
  return found;
}
"""

#: Cards drawn as boxes: a card that is an inline box breaks around its fields.
BROKEN_CARDS = """
() => [...document.querySelectorAll(".card")]
  .filter((card) => !card.hidden && getComputedStyle(card).display === "inline")
  .map((card) => card.id || card.className)
"""


def setup_pages(project: Project, dataset: Dataset) -> dict[str, str]:
    return {
        "projects": "/",
        "project": f"/projects/{project.pk}/",
        "new-project": "/projects/new",
        "tasks": f"/projects/{project.pk}/tasks",
        "data": f"/projects/{project.pk}/data",
        "import": f"/projects/{project.pk}/import",
        "export": f"/projects/{project.pk}/export",
        "settings": f"/projects/{project.pk}/settings",
        "configuration": f"/projects/{project.pk}/configuration",
        "datasets": "/organization/datasets",
        "dataset-media": f"/organization/datasets/{dataset.pk}/media",
        "members": "/organization/members",
        "tokens": "/organization/tokens",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_no_setup_page_squeezes_text_into_a_column_narrower_than_40_px_or_breaks_a_card(
    page: Page, live_server: Any, transactional_db: None, width: int
) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    project = Project.objects.get(name="Street scenes")
    dataset = Dataset.objects.get(name="Street scenes demo")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", DEMO_USERNAME)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    squeezed: dict[str, list[str]] = {}
    for name, path in setup_pages(project, dataset).items():
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None, path
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        found = page.evaluate(SQUEEZED) + [f"broken card {card}" for card in page.evaluate(BROKEN_CARDS)]
        if found:
            squeezed[name] = found

    assert squeezed == {}
