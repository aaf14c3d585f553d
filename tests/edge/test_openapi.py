"""The OpenAPI document declares what the edge sends: the one result shape for a call's result
(checked against real results), and every GET route's query parameters."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from outlayer.errors import ExecutionErrorType
from outlayer.result import CompilationProgress, ExecutionResult, ExecutionStatus, ResourcesUsed
from outlayer.v1 import keystore_pb2, public_pb2
from services.edge.openapi import document
from services.edge.routes import routes_for

ROUTES = routes_for(public_pb2.DESCRIPTOR.services_by_name["PublicService"]) + routes_for(
    keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"]
)
DOCUMENT = document(ROUTES)


def schema_of(name: str) -> dict[str, Any]:
    """A component schema with its references resolvable (OpenAPI 3.0's nullable as JSON
    Schema's null type)."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: convert(v) for k, v in node.items() if k != "nullable"}
            if node.get("nullable"):
                out = {"anyOf": [out, {"type": "null"}]}
            return out
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    components = convert(DOCUMENT["components"])
    return {**components["schemas"][name], "components": components}


RESULTS = [
    ExecutionResult.failure(ExecutionErrorType.TIMEOUT, "ran out of time", logs="x\n"),
    ExecutionResult.failure(
        ExecutionErrorType.COMPILATION_IN_PROGRESS,
        "compiling",
        compilation=CompilationProgress(30.0, 1.0, "ab" * 16),
    ),
    ExecutionResult(
        ExecutionStatus.SUCCESS,
        output={"any": ["json", 1, None]},
        resources_used=ResourcesUsed(5, 1, 65536, compile_ms=1200),
        exit_code=0,
        refund_usd=7,
    ),
    ExecutionResult(ExecutionStatus.SUCCESS, output="plain text"),
]


@pytest.mark.parametrize("result", RESULTS)
def test_a_call_response_declares_the_one_result_shape(result: ExecutionResult) -> None:
    answer = {"call_id": "c", "status": "done", "result": result.to_json(), "charged": "1"}
    jsonschema.validate(answer, schema_of("CallResponse"))


def test_the_protobuf_shape_of_a_result_is_refused() -> None:
    """What the document used to declare (the ExecutionResult message) is not what is sent."""
    as_proto = {"call_id": "c", "status": "done", "charged": "1",
                "result": {"status": "EXECUTION_STATUS_SUCCESS", "output_json": "1"}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_proto, schema_of("CallResponse"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/calls/{call_id}", {"wait_seconds": "number"}),
        ("/secrets/public-key", {"repo": "string", "branch": "string"}),
        ("/attestation", {"nonce": "string"}),
        ("/payment-keys/{key_id}", {}),
    ],
)
def test_get_routes_declare_their_query_parameters(path: str, expected: dict[str, str]) -> None:
    parameters = DOCUMENT["paths"][path]["get"]["parameters"]
    query = {p["name"]: p["schema"]["type"] for p in parameters if p["in"] == "query"}
    assert query == expected


def test_post_routes_take_no_query_parameters() -> None:
    parameters = DOCUMENT["paths"]["/call/{owner}/{project}"]["post"]["parameters"]
    assert [p for p in parameters if p["in"] == "query"] == []
