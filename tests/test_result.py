"""The result type: output rendering and the JSON and Protobuf renderings agree."""

from __future__ import annotations

import pytest

from outlayer.errors import ExecutionErrorType
from outlayer.result import (
    ExecutionResult,
    ExecutionStatus,
    ResourcesUsed,
    ResponseFormat,
    render_output,
)


def test_text_json_and_bytes_rendering() -> None:
    assert render_output(b"hi\n", ResponseFormat.TEXT) == ("hi\n", None)
    assert render_output(b'{"a": [1, 2]}', ResponseFormat.JSON) == ({"a": [1, 2]}, None)
    assert render_output(b"\xff\x00", ResponseFormat.BYTES) == ("/wA=", None)


@pytest.mark.parametrize(
    ("raw", "fmt", "fragment"),
    [
        (b"\xff\xfe", ResponseFormat.TEXT, "not valid UTF-8"),
        (b"\xff\xfe", ResponseFormat.JSON, "not valid UTF-8"),
        (b"{broken", ResponseFormat.JSON, "not valid JSON"),
        (b"", ResponseFormat.JSON, "not valid JSON"),
    ],
)
def test_bad_output_is_invalid_output(raw: bytes, fmt: ResponseFormat, fragment: str) -> None:
    value, error = render_output(raw, fmt)
    assert value is None
    assert error is not None
    assert error.type is ExecutionErrorType.INVALID_OUTPUT
    assert fragment in error.message


@pytest.mark.parametrize(
    "result",
    [
        ExecutionResult(
            ExecutionStatus.SUCCESS,
            output={"big": 2**60, "list": [1, "x", None]},
            resources_used=ResourcesUsed(10, 2, 65536),
            logs="log",
            exit_code=0,
        ),
        ExecutionResult.failure(
            ExecutionErrorType.TIMEOUT, "too slow", ResourcesUsed(5, 1000, 0), logs="partial"
        ),
        ExecutionResult.failure(ExecutionErrorType.EXIT_CODE, "exit 3", exit_code=3),
    ],
)
def test_proto_round_trip_is_lossless(result: ExecutionResult) -> None:
    assert ExecutionResult.from_proto(result.to_proto()) == result
    assert ExecutionResult.from_proto(result.to_proto()).to_json() == result.to_json()


def test_every_error_type_has_a_proto_value() -> None:
    for kind in ExecutionErrorType:
        result = ExecutionResult.failure(kind, "m")
        assert ExecutionResult.from_proto(result.to_proto()).error == result.error
