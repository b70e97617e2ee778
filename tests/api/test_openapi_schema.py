"""The OpenAPI schema validates and documents every native route; the docs page serves locally."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

#: Routes that are the documentation itself, not API operations.
DOCUMENTATION_ROUTES = {"/api/schema", "/api/docs", "/api/redoc"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    routes = []
    for pattern in patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(_routes(pattern.url_patterns, prefix + route))
        elif isinstance(pattern, URLPattern):
            routes.append((prefix + route, pattern.callback))
    return routes


def native_api_operations(exclude_modules: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """(METHOD, /api/path/{param}) of every view routed under /api/ except DataGym's /api/v1/
    (and those of views defined in `exclude_modules`)."""
    operations: set[tuple[str, str]] = set()
    for route, callback in _routes(get_resolver().url_patterns):
        if not route.startswith("api/") or route.startswith(("api/v1", "^api/v1")) or "^" in route:
            continue  # regex routes under /api/ are DataGym's, and the JSON 404 catch-all
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        if path in DOCUMENTATION_ROUTES:
            continue
        view_class = callback.view_class
        if view_class.__module__.startswith(exclude_modules):
            continue
        operations.update((method.upper(), path) for method in HTTP_METHODS if hasattr(view_class, method))
    return operations


def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert yaml.safe_load(target.read_text())["openapi"].startswith("3.")


def test_schema_lists_every_native_route_with_request_and_response_shapes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert native_api_operations() == documented
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, (method, path)
            assert "401" in operation["responses"], (method, path)
            if method in {"put", "patch"}:
                assert "requestBody" in operation, (method, path)


def test_schema_leaves_out_the_datagym_v1_api():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert not [path for path in schema["paths"] if path.startswith("/api/v1")]


@pytest.mark.django_db
def test_schema_is_served_at_api_schema(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/projects" in response.json()["paths"]


@pytest.mark.django_db
def test_docs_page_loads_its_scripts_from_our_static_files(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/projects/3%C3%A6s%0A/label-configuration/save", "/api/nothing%0Ahere", "/api/v1/project/x%0Ay"],
)
def test_an_api_path_with_a_newline_in_it_answers_the_json_404(client, path):
    response = client.post(path, {"a": "b"})

    assert response.status_code in (401, 404)
    assert response["Content-Type"].startswith("application/json")
