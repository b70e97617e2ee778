"""Schemathesis against the native API's own OpenAPI schema (/api/schema), signed in with a real
API token of an organisation's admin: no 5xx, and every answer is one the schema documents
(status, content type, body shape). Positive and negative requests, on random ids and on the
ids of real objects of the organisation. Derandomized and bounded, so CI runs it the same way
each time in about a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from tests.security.conftest import SecurityWorld

pytestmark = pytest.mark.django_db

#: Examples per operation and generation mode (about 55 operations x 2 modes).
EXAMPLES = 6

#: What we assert: no server error, and the answer is one the schema documents.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def real_path_parameters(world: SecurityWorld, path: str) -> dict[str, str]:
    """The ids of real objects of the token's organisation, by the path parameter's name."""
    ids = {
        "project_id": str(world.project.id),
        "dataset_id": str(world.dataset.id),
        "media_id": str(world.media.id),
        "task_id": str(world.task.id),
        "label_id": str(world.label.id),
        "token_id": str(world.token.id),
        "user_id": str(world.annotator.id),
        "name": "datagym",
        "job_id": str(world.export_job.id if path.startswith("/api/exports") else world.import_job.id),
    }
    return ids


def destructive_last(operation: Any) -> tuple[bool, str]:
    """Deletes run after everything else, so the real objects exist while the rest is fuzzed."""
    return (operation.method.upper() == "DELETE", operation.path)


@pytest.fixture
def connection_kept_across_requests() -> Iterator[None]:
    """Like Django's test client: the WSGI handler must not close the test's database connection
    (and its transaction) at the end of each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_native_api_answers_fuzzed_requests_as_its_schema_documents(
    security_world: SecurityWorld, settings: Any, connection_kept_across_requests: None
) -> None:
    settings.ALLOWED_HOSTS = ["localhost"]  # schemathesis's in-process WSGI client's host
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema?format=json", app)
    token = security_world.tokens["admin"]
    # `ok()` of an Err (an operation the schema cannot describe) raises: the test fails on it.
    results: list[Any] = list(schema.get_all_operations())
    operations = sorted((result.ok() for result in results), key=destructive_last)
    assert len(operations) > 40
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, real_path_parameters(security_world, operation.path), token)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)


def fuzz_operation(operation: Any, mode: GenerationMode, real: dict[str, str], token: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode), use_real_ids=st.booleans())
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any, use_real_ids: bool) -> None:
        if use_real_ids and case.path_parameters:
            case.path_parameters = {name: real.get(name, value) for name, value in case.path_parameters.items()}
        response = case.call(headers={"Authorization": f"Token {token}"})
        case.validate_response(response, checks=CHECKS)

    fuzz()
