"""JSON nested far deeper than any request needs, on every native API route that takes a body.

Python's `json` recurses once per level, so 100,000 `[` raised RecursionError: a 500 on every
route that read its body. The native API's parser now measures the nesting first (one pass
over the bytes, outside strings) and refuses more than 64 levels with a 400 in the API's error
shape, before anything is parsed. The Ango schema of the configuration converter is JSON text
inside the JSON body, so it is measured the same way; so are the DataGym v1 facade's bodies,
which it reads itself (a deep one is DataGym's unreadable body, 400 `ex_notreadable`).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from rest_framework.test import APIClient

from labelsite.jsondepth import json_depth_exceeded
from projects.models import Project
from tests.security.conftest import SecurityWorld
from tests.security.test_route_walk import ROUTES, project_routes, route_key, route_path

pytestmark = pytest.mark.django_db

DEEP = b"[" * 100_000
LIMIT = 64


def nested(depth: int) -> Any:
    """A list `depth` levels deep (the outermost list is level 1)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _native_routes_with_a_body() -> list[Any]:
    cases = []
    for route in project_routes():
        key = route_key(route)
        if not route.pattern.startswith("api/") or route.pattern.startswith("api/v1") or "[" in key:
            continue
        for method in ROUTES[key]:
            if method in {"post", "put", "patch"}:
                cases.append(pytest.param(key, method, id=f"{method}-{key}"))
    return cases


@pytest.mark.parametrize(("key", "method"), _native_routes_with_a_body())
def test_json_nested_100000_levels_deep_never_answers_500_on_a_native_api_route(
    security_world: SecurityWorld, key: str, method: str
):
    route = next(route for route in project_routes() if route_key(route) == key)
    client = security_world.client("admin")

    response = getattr(client, method)(route_path(route, security_world), DEEP, content_type="application/json")

    assert response.status_code < 500, response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "json_too_deep", response.content[:300]


def test_a_deep_body_is_refused_with_400_in_the_native_error_shape(security_world: SecurityWorld):
    response = security_world.client("admin").post("/api/projects", DEEP, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "json_too_deep"
    assert "64 levels" in error["message"]
    assert not Project.objects.filter(name="").exists()


def test_a_body_nested_exactly_64_levels_is_parsed_as_usual(security_world: SecurityWorld):
    body = {"name": "Deep enough", "ignored": nested(LIMIT - 1)}  # the object is level 1

    response = security_world.client("admin").post("/api/projects", body, format="json")

    assert response.status_code == 201, response.content[:300]


def test_a_body_nested_65_levels_is_refused(security_world: SecurityWorld):
    body = {"name": "Too deep", "ignored": nested(LIMIT)}

    response = security_world.client("admin").post("/api/projects", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_too_deep"
    assert not Project.objects.filter(name="Too deep").exists()


def test_brackets_and_escaped_quotes_inside_strings_are_not_nesting(security_world: SecurityWorld):
    name = '[{\\"' * 500 + '"' + "[" * 500
    response = security_world.client("admin").post(
        "/api/projects", json.dumps({"name": name[:128]} | {"note": name}), content_type="application/json"
    )

    assert response.status_code == 201, response.content[:300]


def test_an_ango_schema_nested_100000_levels_deep_is_refused_by_the_converter(security_world: SecurityWorld):
    body = {"format": "ango_schema", "source": DEEP.decode()}

    response = security_world.client("admin").post("/api/label-configurations/convert", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "json_too_deep"
    assert error["details"][0]["path"] == "source"


def test_a_label_studio_config_nested_100000_elements_deep_never_answers_500(security_world: SecurityWorld):
    source = "<View>" * 100_000 + "</View>" * 100_000
    body = {"format": "label_studio_xml", "source": source}

    response = security_world.client("admin").post("/api/label-configurations/convert", body, format="json")

    assert response.status_code < 500, response.content[:300]


def test_a_deep_body_in_utf16_is_measured_after_decoding(security_world: SecurityWorld):
    body = ("[" * 1000 + "]" * 1000).encode("utf-16")

    response = security_world.client("admin").post(
        "/api/projects", body, content_type="application/json; charset=utf-16"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_too_deep"


# --- the scan itself: it sees the nesting `json` sees ------------------------------------------


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


def _random_document(rng: random.Random, depth: int) -> Any:
    strings = ['"', "\\", '\\"', "[", "]{", '"]', "\\\\", "é[", "}", ""]
    if depth == 0 or rng.random() < 0.2:
        return "".join(rng.choice(strings) for _ in range(rng.randint(0, 4)))
    if rng.random() < 0.5:
        return [_random_document(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(strings) + str(i): _random_document(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_the_scan_measures_the_depth_json_parses_whatever_the_strings_hold() -> None:
    rng = random.Random(15)
    for _ in range(500):
        document = _random_document(rng, rng.randint(1, 12))
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()
        depth = _depth(document)

        assert json_depth_exceeded(text, limit=depth) is None, text
        if depth:
            assert json_depth_exceeded(text, limit=depth - 1) is not None, text


# --- the DataGym v1 facade reads its bodies itself, with the same measure ------------------------


def _v1_routes_with_a_body() -> list[Any]:
    return [
        pytest.param(key, method, id=f"{method}-{key}")
        for key, methods in ROUTES.items()
        if key.startswith("datagym-")
        for method in methods
        if method in {"post", "put"}
    ]


@pytest.mark.parametrize(("key", "method"), _v1_routes_with_a_body())
def test_json_nested_100000_levels_deep_answers_datagyms_unreadable_body_on_v1_routes(
    security_world: SecurityWorld, key: str, method: str
):
    route = next(route for route in project_routes() if route_key(route) == key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {security_world.tokens['org_token']}")

    response = getattr(client, method)(route_path(route, security_world), DEEP, content_type="application/json")

    assert response.status_code < 500, response.content[:300]
    if response.status_code == 400 and key != "datagym-media-upload":  # that one reads no JSON
        assert response.json()["details"][0]["key"] == "ex_notreadable", response.content[:300]
