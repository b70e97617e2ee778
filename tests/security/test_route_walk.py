"""Every URL pattern of the project x every kind of caller, with the class of answer each must get.

The routes are read from the URLconf, so a route added later without an entry in ROUTES fails
`test_every_route_has_an_access_rule`. Ids in the URLs are real objects of organisation A.
Expected classes:
- anonymous and a revoked token: 401 on the APIs, a redirect to the login page on pages;
- the admin of another organisation: 404 for anything of organisation A (never 403), allowed
  on collections, where it sees its own organisation;
- roles of organisation A below what a route needs: 403 or 404;
- callers a route allows: any answer but 401, 403, 404 and 5xx (a 400 for an empty body is fine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from tests.api.conftest import s3_sources_of
from tests.security.conftest import SecurityWorld

ACTORS = ("anonymous", "revoked", "other_org", "annotator", "reviewer", "admin")
ROLE_RANK = {"annotator": 1, "reviewer": 2, "admin": 3}


@dataclass(frozen=True)
class Route:
    pattern: str  # the full pattern, as Django shows it
    name: str | None
    callback: Any
    params: tuple[str, ...]


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            full = prefix + str(entry.pattern)
            params = tuple(re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", full) and _param_names(full))
            yield Route(pattern=full, name=entry.name, callback=entry.callback, params=params)


def _param_names(pattern: str) -> list[str]:
    names = []
    for converter_name, regex_name in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", pattern):
        names.append(converter_name or regex_name)
    return names


def project_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if not r.pattern.startswith("admin/")]


def admin_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if r.pattern.startswith("admin/")]


def route_key(route: Route) -> str:
    return route.name or route.pattern


def _value(param: str, world: SecurityWorld) -> str:
    values = {
        "project_id": world.project.id,
        "dataset_id": world.dataset.id,
        "media_id": world.media.id,
        "task_id": world.task.id,
        "view_id": world.task_view.id,
        "label_id": world.label.id,
        "user_id": world.annotator.pk,
        "token_id": world.token.id,
        "config_id": world.project.label_configuration.id,
        "entry_key": "car",
        "name": "datagym",
        "uidb64": "MQ",  # a password reset link: any user id and token (a wrong one answers "no longer valid")
        "token": "abc-123",
    }
    if param == "job_id":
        raise KeyError(param)  # the job kind depends on the route, see route_path
    ml_objects = {
        "backend_id": world.ml_backend,
        "prelabel_job_id": world.prelabel_job,
        "accept_job_id": world.accept_job,
    }
    if param in ml_objects:
        return str(getattr(ml_objects[param], "pk", None))
    return str(values[param])


def route_path(route: Route, world: SecurityWorld) -> str:
    """A concrete path for the route, with organisation A's objects in it."""
    path = route.pattern
    for param in route.params:
        if param == "job_id":
            name = route.name or ""
            job = world.export_job if "export" in name else world.bulk_job if "bulk" in name else world.import_job
            value = str(job.id)
        else:
            value = _value(param, world)
        path = re.sub(rf"<(?:\w+:)?{param}>|\(\?P<{param}>[^)]*\)", value, path)
    path = path.replace("(?:media|image)", "media").replace("(?:/[\\s\\S]*)?", "/no-such-thing").replace("/?$", "")
    path = path.replace("^[\\s\\S]*$", "no-such-thing").replace("^", "").replace("$", "")
    return "/" + path


# --- the rules ------------------------------------------------------------------------------------
# Who may call each route, per method:
#   public   - anyone (the login page, the API schema and its documentation)
#   any      - any signed-in caller; another organisation's admin sees its own organisation
#   member   - a member of the project or dataset in organisation A (annotator and up)
#   reviewer - a reviewer or admin of organisation A
#   admin    - an admin of organisation A
#   org_admin_any - an admin of any organisation, acting in their own (collections)
#   v1       - the DataGym v1 API: organisation tokens or tokens of an admin of organisation A
#   v1_any   - a v1 collection: a token of any organisation's admin, each sees its own
#   missing  - the catch-all routes: 404 for everyone
#   ml_token - a model server's media token only (ml/tokens.py): 401 for every user, session or API token
PUBLIC, ANY, MEMBER, REVIEWER, ADMIN, ORG_ADMIN_ANY, V1, V1_ANY, MISSING, ML_TOKEN = (
    "public",
    "any",
    "member",
    "reviewer",
    "admin",
    "org_admin_any",
    "v1",
    "v1_any",
    "missing",
    "ml_token",
)

ROUTES: dict[str, dict[str, str]] = {
    # DataGym v1
    "datagym-project-list": {"get": V1_ANY},
    "datagym-dataset-list": {"get": V1_ANY, "post": V1_ANY},
    "datagym-dataset": {"get": V1},
    "datagym-dataset-disconnect": {"delete": V1},
    "datagym-dataset-connect": {"post": V1},
    "datagym-prediction-import": {"post": V1},
    "datagym-media-urls": {"post": V1},
    "datagym-media-upload": {"post": V1},
    "datagym-media": {"get": V1, "delete": V1},
    "datagym-export-bitmap": {"get": V1},
    "datagym-export": {"get": V1},
    "datagym-config": {"put": V1, "delete": V1},
    "datagym-task-list": {"get": V1},
    "datagym-task-skip": {"put": V1},
    "datagym-task-complete": {"put": V1},
    "datagym-task": {"get": V1},
    "^api/v1(?:/[\\s\\S]*)?$": {"get": MISSING, "post": MISSING},
    # the native API
    "api-schema": {"get": PUBLIC},
    "api-docs": {"get": PUBLIC},
    "api-redoc": {"get": PUBLIC},
    "api-project-list": {"get": ANY, "post": ORG_ADMIN_ANY},
    "api-project": {"get": MEMBER, "patch": ADMIN, "delete": ADMIN},
    "api-project-label-configuration": {"get": MEMBER, "put": ADMIN},
    "api-dataset-list": {"get": ANY, "post": ORG_ADMIN_ANY},
    "api-dataset": {"get": MEMBER, "delete": ADMIN},
    "api-dataset-project": {"post": ADMIN, "delete": ADMIN},
    "api-dataset-media": {"get": MEMBER, "post": ADMIN},
    "api-dataset-media-urls": {"post": ADMIN},
    "api-dataset-media-s3": {"post": ADMIN},
    "api-dataset-media-keys": {"post": ADMIN},
    "api-media": {"get": MEMBER, "patch": ADMIN, "delete": ADMIN},
    # Each caller's own key map: every signed-in person has one.
    "api-labeling-keys": {"get": ANY, "put": ANY},
    "api-task-list": {"get": MEMBER},
    "api-task-bulk": {"post": ADMIN},
    "api-task-bulk-job": {"get": ADMIN},
    "api-task-view-list": {"get": MEMBER, "post": MEMBER},
    # the walk's view is shared by the admin: only admins change or delete it
    "api-task-view": {"patch": ADMIN, "delete": ADMIN},
    "api-task": {"get": MEMBER},
    "api-task-assign": {"post": MEMBER},
    "api-task-complete": {"post": MEMBER},
    "api-task-skip": {"post": MEMBER},
    "api-task-review": {"post": REVIEWER},
    "api-task-review-next": {"post": REVIEWER},
    # an annotator sees their own row, admins and reviewers everyone's
    "api-team-figures": {"get": MEMBER},
    "api-task-heartbeat": {"post": MEMBER},
    # a member releases only their own reservation; the walk's task is reserved by nobody
    "api-task-release": {"post": ADMIN},
    "api-task-annotation": {"get": MEMBER, "put": MEMBER, "patch": MEMBER},
    "api-task-labels": {"post": MEMBER},
    "api-task-brush": {"post": MEMBER},
    "api-label": {"patch": MEMBER, "delete": MEMBER},
    "api-task-assist-grabcut": {"post": MEMBER},
    "api-task-assist-magic-wand": {"post": MEMBER},
    "api-task-assist-scissors": {"post": MEMBER},
    "api-import-create": {"post": ADMIN},
    "api-import": {"get": ADMIN},
    "api-import-errors": {"get": ADMIN},
    "api-import-errors-csv": {"get": ADMIN},
    "api-import-confirm": {"post": ADMIN},
    "api-import-cancel": {"post": ADMIN},
    "api-import-format-list": {"get": ANY},
    "api-import-format-example": {"get": ANY},
    "api-export-list": {"get": REVIEWER, "post": REVIEWER},
    "api-export-stream": {"get": REVIEWER},
    "api-export": {"get": REVIEWER},
    "api-export-download": {"get": REVIEWER},
    "api-export-format-list": {"get": ANY},
    "api-label-configuration-validate": {"post": ADMIN},
    "api-label-configuration-impact": {"post": ADMIN},
    "api-label-configuration-save": {"post": ADMIN},
    "api-label-configuration-datagym": {"get": MEMBER},
    "api-config-convert": {"post": ANY},
    "api-project-members": {"get": MEMBER, "post": ADMIN},
    "api-project-member": {"delete": ADMIN},
    "api-tokens": {"get": ORG_ADMIN_ANY, "post": ORG_ADMIN_ANY},
    "api-token": {"delete": ADMIN},
    "api/^[\\s\\S]*$": {"get": MISSING, "post": MISSING},
    # pages
    "login": {"get": PUBLIC, "post": PUBLIC},
    "favicon": {"get": PUBLIC},
    "logout": {"post": PUBLIC},
    "password_change": {"get": ANY, "post": ANY},
    "password_change_done": {"get": ANY},
    "password_reset": {"get": PUBLIC, "post": PUBLIC},
    "password_reset_done": {"get": PUBLIC},
    "password_reset_confirm": {"get": PUBLIC, "post": PUBLIC},
    "password_reset_complete": {"get": PUBLIC},
    "project-list": {"get": ANY},
    "invitation-list": {"get": ANY, "post": ANY},
    "project-detail": {"get": MEMBER},
    "project-data": {"get": MEMBER},
    "project-dataset-connect": {"post": ADMIN},
    "project-dataset-create": {"post": ADMIN},
    "dataset-detail": {"get": MEMBER, "post": ADMIN},
    "dataset-upload": {"post": ADMIN},
    "dataset-media-keys": {"post": ADMIN},
    "media-file": {"get": MEMBER},
    "setup-project-create": {"get": ORG_ADMIN_ANY, "post": ORG_ADMIN_ANY},
    "setup-project-settings": {"get": ADMIN, "post": ADMIN},
    "setup-project-archive": {"post": ADMIN},
    "setup-project-delete": {"post": ADMIN},
    "setup-project-member-add": {"post": ADMIN},
    "setup-project-member-remove": {"post": ADMIN},
    "setup-project-configuration": {"get": ADMIN},
    "setup-project-overview": {"get": MEMBER},
    "setup-datasets": {"get": ORG_ADMIN_ANY, "post": ORG_ADMIN_ANY},
    "setup-dataset-media": {"get": MEMBER},
    "setup-media-delete": {"post": ADMIN},
    "setup-media-thumbnail": {"get": MEMBER},
    "setup-members": {"get": ORG_ADMIN_ANY, "post": ORG_ADMIN_ANY},
    "setup-tokens": {"get": ORG_ADMIN_ANY, "post": ORG_ADMIN_ANY},
    "project-label-start": {"get": MEMBER},
    "project-review-start": {"get": REVIEWER},
    "project-task-list": {"get": MEMBER},
    "project-team-figures": {"get": MEMBER},
    "task-label": {"get": MEMBER},
    "task-release": {"post": ADMIN},
    "project-import": {"get": ADMIN},
    "project-import-create": {"post": ADMIN},
    "import-job-detail": {"get": ADMIN},
    "import-job-confirm": {"post": ADMIN},
    "import-job-cancel": {"post": ADMIN},
    "project-export": {"get": REVIEWER},
    "project-export-create": {"post": REVIEWER},
    # model servers (ml/)
    "api-ml-backend-list": {"get": ADMIN, "post": ADMIN},
    "api-ml-backend-interactive-list": {"get": MEMBER},
    "api-ml-backend": {"get": ADMIN, "patch": ADMIN, "delete": ADMIN},
    "api-ml-backend-check": {"post": ADMIN},
    "api-ml-backend-token": {"post": ADMIN},
    "api-ml-backend-interactive": {"post": MEMBER},
    "api-ml-prelabel-list": {"get": ADMIN, "post": ADMIN},
    "api-ml-prelabel-job": {"get": ADMIN},
    "api-ml-prelabel-job-cancel": {"post": ADMIN},
    "api-ml-prelabel-job-retry": {"post": ADMIN},
    "api-ml-prediction-versions": {"get": ADMIN},
    "api-ml-accept-list": {"post": ADMIN},
    "api-ml-accept-job": {"get": ADMIN},
    "ml-media-file": {"get": ML_TOKEN},
}

#: Valid requests for the routes that validate their input before they look at the caller, so
#: that a 400 cannot hide a missing permission check. Others get no body.
#: What a route needs configured for its valid body to be valid (organisation A may add media
#: from the bucket "photos"), so that an allowed caller's answer is a success, not a refusal.
SETTINGS: dict[tuple[str, str], Any] = {
    ("api-dataset-media-s3", "post"): lambda w: {"LABELSITE_S3_SOURCES": s3_sources_of(w.organization, "photos")},
    # The walk's media is a URL image: the assist tools are refused its pixels (400), never a fetch.
    ("api-task-assist-grabcut", "post"): lambda w: {"LABELSITE_MEDIA_PROBE_URLS": False},
    ("api-task-assist-magic-wand", "post"): lambda w: {"LABELSITE_MEDIA_PROBE_URLS": False},
    ("api-task-assist-scissors", "post"): lambda w: {"LABELSITE_MEDIA_PROBE_URLS": False},
}
BODIES: dict[tuple[str, str], Any] = {
    ("api-project-list", "post"): lambda w: {"name": "New"},
    ("api-project-label-configuration", "put"): lambda w: {
        "entries": [{"key": "tree", "title": "Tree", "type": "polygon"}]
    },
    ("api-dataset-list", "post"): lambda w: {"name": "New"},
    ("api-dataset-media-urls", "post"): lambda w: {"urls": ["https://images.example.com/new.jpg"]},
    ("api-dataset-media-s3", "post"): lambda w: {"bucket": "photos", "keys": ["2024/new.jpg"]},  # see SETTINGS
    # each caller takes the task for themselves, which every member may do
    ("api-task-assign", "post"): lambda w, actor: {"user_id": w.user_of(actor).pk},
    ("api-task-review", "post"): lambda w: {"accept": True},
    ("api-task-bulk", "post"): lambda w: {"action": "unassign", "task_ids": [str(w.task.id)]},
    ("api-task-view-list", "post"): lambda w: {"name": "Mine", "query": {"state": "backlog"}},
    ("api-task-view", "patch"): lambda w: {"name": "Renamed"},
    ("api-task-brush", "post"): lambda w: {"stroke": {"x": 1, "y": 1, "width": 2, "height": 2, "counts": [1, 3]}},
    ("api-export-list", "post"): lambda w: {"format": "datagym"},
    ("api-label-configuration-validate", "post"): lambda w: {"entries": []},
    ("api-label-configuration-impact", "post"): lambda w: {"entries": []},
    ("api-label-configuration-save", "post"): lambda w: {"entries": []},
    ("api-project-members", "post"): lambda w: {"user_id": w.annotator.pk},
    ("api-task-assist-grabcut", "post"): lambda w: {"box": [[10, 10], [60, 60]]},
    ("api-task-assist-magic-wand", "post"): lambda w: {"point": [10, 10]},
    ("api-task-assist-scissors", "post"): lambda w: {"points": [[10, 10], [60, 60]]},
    # the task is read from the body: without it, a 400 would come before the caller is checked
    ("api-ml-backend-interactive", "post"): lambda w: {
        "task_id": str(w.task.id),
        "shape": {"key": "car", "type": "point", "points": [[5, 5]]},
    },
}
QUERIES: dict[tuple[str, str], str] = {("api-export-stream", "get"): "?format=datagym"}
#: Answers that are right for an allowed caller on this route, beside the usual ones.
ALLOWED_TOO: dict[tuple[str, str], set[int]] = {
    # the world's entries are rectangles; a bitmap exists only for segmentation entries
    ("datagym-export-bitmap", "get"): {404},
}

FORBIDDEN = {403, 404}
DENIED_TO_OTHERS = {MEMBER, REVIEWER, ADMIN, V1}
RULE_RANK = {MEMBER: 1, REVIEWER: 2, ADMIN: 3, V1: 3, V1_ANY: 3, ORG_ADMIN_ANY: 3}


def expected_class(*, rule: str, actor: str, api: bool) -> str:
    """`allowed`, `unauthenticated`, `not_found` or `forbidden` (403 or 404)."""
    if rule == MISSING:
        return "not_found"
    if rule == ML_TOKEN:
        return "unauthenticated"
    if rule == PUBLIC:
        return "unauthenticated" if (actor == "revoked" and api) else "allowed"
    if actor in {"anonymous", "revoked"}:
        return "unauthenticated"
    if actor == "other_org":
        return "not_found" if rule in DENIED_TO_OTHERS else "allowed"
    if rule == ANY:
        return "allowed"
    return "allowed" if ROLE_RANK[actor] >= RULE_RANK[rule] else "forbidden"


def assert_answer_class(
    response: Any, expected: str, *, api: bool, v1: bool = False, also_allowed: frozenset[int] = frozenset()
) -> None:
    status = response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    described = f"{status} {response.get('Location', '')} {body[:300]!r}"
    if v1 and status == 500:
        # DataGym's contract answers business errors with 500 and an `ex_gen_*` key (§2); a crash is `ex_system`.
        assert str(json.loads(body).get("key", "")).startswith("ex_gen_"), described
        return
    assert status < 500, described
    if expected == "unauthenticated":
        if api:
            assert status == 401, described
        else:
            assert status == 302, described
            assert response["Location"].startswith("/login/"), described
    elif expected == "not_found":
        assert status == 404, described
    elif expected == "forbidden":
        assert status in FORBIDDEN, described
    elif status not in also_allowed:
        assert status not in {401, 403, 404, 405}, described


def _cases() -> list[tuple[str, str, str]]:
    return [(key, method, actor) for key, methods in ROUTES.items() for method in methods for actor in ACTORS]


def _route(key: str) -> Route:
    return next(route for route in project_routes() if route_key(route) == key)


@pytest.mark.parametrize(("key", "method", "actor"), _cases())
def test_route_answers_each_caller_with_its_class(
    security_world: SecurityWorld, settings: Any, key: str, method: str, actor: str
):
    for name, value in SETTINGS[key, method](security_world).items() if (key, method) in SETTINGS else ():
        setattr(settings, name, value)
    route = _route(key)
    path = route_path(route, security_world)
    api = path.startswith("/api/")
    client = security_world.client(actor) if api else security_world.page_client(actor)
    kwargs: dict[str, Any] = {}
    if (key, method) in BODIES:
        make = BODIES[key, method]
        data = make(security_world, actor) if make.__code__.co_argcount == 2 else make(security_world)
        kwargs = {"data": data, "format": "json"}
    response = getattr(client, method)(path + QUERIES.get((key, method), ""), **kwargs)
    rule = ROUTES[key][method]
    expected = expected_class(rule=rule, actor=actor, api=api)
    also = frozenset(ALLOWED_TOO.get((key, method), set()))
    assert_answer_class(response, expected, api=api, v1=path.startswith("/api/v1/"), also_allowed=also)
    if expected == "allowed" and response.status_code in {301, 302} and key != "logout":
        assert not response["Location"].startswith("/login/"), response["Location"]


def test_every_route_has_an_access_rule() -> None:
    """A route added without a rule here fails: decide who may call it, then add it."""
    keys = [route_key(route) for route in project_routes()]
    assert len(keys) == len(set(keys)), "two routes share a name"
    assert set(keys) == set(ROUTES)


def test_rules_name_every_method_of_each_api_view() -> None:
    for route in project_routes():
        view_class = getattr(route.callback, "view_class", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        methods = {m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}
        assert methods == set(ROUTES[route_key(route)]), route_key(route)


def test_built_paths_resolve_to_their_routes(security_world: SecurityWorld) -> None:
    from django.urls import resolve

    for route in project_routes():
        match = resolve(route_path(route, security_world))
        assert match.route == route.pattern.split("/", 1)[-1] or match.url_name == route.name, route_key(route)


@pytest.mark.parametrize("actor", ["anonymous", "annotator", "admin", "other_org"])
def test_django_admin_is_closed_to_everyone_but_staff(security_world: SecurityWorld, actor: str) -> None:
    """Nobody in the world is staff: every admin URL sends them to the admin's login."""
    client = security_world.page_client(actor)
    for route in admin_routes():
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>|\(\?P<\w+>[^)]*\)", "1", route.pattern)
        path = path.replace("^", "").replace("$", "").replace("(?P<app_label>auth|projects|labeling|imports)", "auth")
        response = client.get(path)
        if path in {"/admin/login/", "/admin/logout/"}:
            continue
        assert response.status_code in {302, 404}, (path, response.status_code)
        if response.status_code == 302:
            assert "/admin/login/" in response["Location"], (path, response["Location"])


def test_a_token_in_the_query_string_does_not_sign_in_pages(security_world: SecurityWorld) -> None:
    from django.test import Client

    response = Client().get(f"/?token={security_world.tokens['admin']}")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
