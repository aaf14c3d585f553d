"""Property-based fuzzing of the edge against the OpenAPI document it serves (schemathesis):
every operation, with generated paths, queries, headers and bodies, and some requests that
break the schema on purpose. The bar: no 5xx, every response as the document declares it
(status, content type, body schema)."""

from __future__ import annotations

import contextlib
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.edge.conftest import ADMIN_TOKEN, Stack

EXAMPLES = 25  # per operation and mode: bounded, ~30 s for the whole document
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_edge_survives_fuzzing_of_its_own_openapi(stack: Stack) -> None:
    key_id, secret = stack.key("dev.near", balance=10**30)  # the projects' owner: reads all
    call = stack.call(secret, {"input": "seed"}).json()
    served = stack.http.get("/openapi.json")
    assert served.status_code == 200
    schema = schemathesis.openapi.from_url(f"{stack.base}/openapi.json")
    schema.config.update(base_url=stack.base)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {"/call/{owner}/{project}", "/calls/{call_id}"}
    failures: list[str] = []
    sent = [0]
    # Half the examples with real credentials and paths that exist, so requests get past
    # authentication and lookups (calls run, results are checked against the document).
    real = {"owner": "dev.near", "project": "echo", "name": "echo",
            "call_id": call["call_id"], "key_id": key_id}  # fmt: skip
    credentials = [({}, {}), ({"X-Payment-Key": secret, "X-Admin-Token": ADMIN_TOKEN}, real)]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation in operations:
        for headers, path in credentials:
            for mode in modes:
                failures += _fuzz(operation, mode, headers, path, sent)
    assert failures == []
    assert sent[0] >= len(operations) * EXAMPLES  # the fuzzer really sent requests


def _fuzz(
    operation: Any, mode: Any, headers: dict[str, str], path: dict[str, str], sent: list[int]
) -> list[str]:
    found: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: Any) -> None:
        if headers:
            case.headers = {**(case.headers or {}), **headers}
        if path and case.path_parameters and mode is schemathesis.GenerationMode.POSITIVE:
            case.path_parameters = {name: path.get(name, value)
                                    for name, value in case.path_parameters.items()}  # fmt: skip
        sent[0] += 1
        try:
            case.call_and_validate(checks=CHECKS, timeout=30)
        except Exception as exc:  # collect every failure, with the request that caused it
            found.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")

    # Unsatisfiable: nothing to generate (a negative case of a schema that takes any string,
    # say), so no request to send.
    with contextlib.suppress(Unsatisfiable):
        check()
    return found[:5]
