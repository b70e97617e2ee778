"""The house's plan holds: arrows point one way, no app imports one above it, no cycles.

The contracts live in pyproject.toml (`[tool.importlinter]`) and `dev.py test` runs them with
`lint-imports` too; docs/architecture.md shows the same layers, checked here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "labelsite",
    "projects",
    "labeling",
    "formats",
    "imports",
    "exports",
    "backups",
    "brush",
    "assist",
    "ml",
    "datagym_v1",
    "demo",
)


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_import_contracts_hold():
    assert (
        lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == EXIT_STATUS_SUCCESS
    )


def test_contracts_cover_every_app():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {app.strip() for layer in _contracts()["layers"]["layers"] for app in str(layer).split("|")}
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert set(config["root_packages"]) == packages == layered == set(APPS)
    assert set(_contracts()["no-cycles"]["ancestors"]) == set(APPS)


def test_architecture_page_shows_the_layers_of_the_contract():
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"```text layers\n(.*?)```", page, re.S)
    assert block, "docs/architecture.md has a ```text layers block"
    shown = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]
    assert shown == [str(layer) for layer in _contracts()["layers"]["layers"]]


def test_every_app_keeps_its_rooms_under_the_same_names():
    """The rooms of docs/architecture.md: one name per kind of module in every app."""
    for app in APPS:
        names = {path.name for path in (ROOT / app).glob("*.py")}
        if "models.py" in names:
            assert {"apps.py", "admin.py"} <= names, app
        if "api.py" in names:
            assert "api_urls.py" in names, app
        if "views.py" in names:
            assert "page_urls.py" in names, app
        if app != "labelsite":
            assert "urls.py" not in names, f"{app}: routes are api_urls.py or page_urls.py"
        assert not [name for name in names if name.startswith(("export_", "import_"))], app
