"""HEAD is answered wherever GET is: link checkers and monitors ask pages with HEAD."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import SecurityWorld
from tests.security.test_route_walk import QUERIES, ROUTES, _route, route_path

PAGE_KEYS = [key for key, methods in ROUTES.items() if "get" in methods]


@pytest.mark.parametrize("key", PAGE_KEYS)
def test_head_answers_as_get_does_for_the_admin(security_world: SecurityWorld, key: str) -> None:
    path = route_path(_route(key), security_world)
    if path.startswith("/api/"):
        client: Any = security_world.client("admin")
    else:
        client = security_world.page_client("admin")
    query = QUERIES.get((key, "get"), "")

    head = client.head(path + query)
    get = client.get(path + query)

    assert head.status_code != 405, path
    assert head.status_code == get.status_code, path
