"""The stylesheet: muted text readable on every panel, every kind of input styled alike."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

CSS = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def variable(name: str) -> str:
    match = re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{3,6}})", CSS)
    assert match, name
    return match.group(1)


def test_contrast_is_computed_as_wcag_does():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54


def test_muted_text_has_at_least_4_5_to_1_on_white_and_on_every_light_panel():
    muted = variable("muted")
    panels = {"#ffffff", variable("surface"), variable("bg")}
    # Every light background of the stylesheet (badges and panels muted text may sit on).
    panels |= {c for c in re.findall(r"background(?:-color)?:\s*(#[0-9a-fA-F]{6})", CSS) if _luminance(c) > 0.75}

    low = {panel: round(contrast(muted, panel), 2) for panel in panels if contrast(muted, panel) < 4.5}
    assert low == {}
    assert len(panels) >= 4


def test_every_kind_of_text_input_shares_the_field_style():
    rule = CSS[: CSS.index("{", CSS.index('input[type="text"]'))]
    selectors = rule[rule.rindex("}") + 1 :] if "}" in rule else rule
    for kind in ("text", "password", "email", "number", "date", "search", "color", "url"):
        assert f'input[type="{kind}"]' in selectors, kind
    assert "select" in selectors
    assert "textarea" in selectors
