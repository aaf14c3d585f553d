"""The one result type: what every caller gets back, over the CLI, gRPC, HTTPS and on chain.

Every conversion of a result lives here: JSON (the queue, the CLI, HTTPS), Protobuf (the mesh)
and the on-chain shape (resolve_execution's arguments)."""

from __future__ import annotations

import base64
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from outlayer.errors import ExecutionErrorType
from outlayer.v1 import execution_pb2 as pb

# The contract's caps on what resolve_execution may deliver (contract/outlayer/contract.py).
MAX_ON_CHAIN_OUTPUT = 16 * 1024
MAX_ON_CHAIN_DEPTH = 64  # deeper JSON would overflow the contract's (MicroPython) stack


class ResponseFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    BYTES = "bytes"


class ExecutionStatus(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class CompilationProgress:
    """While a job's source compiles: the build's estimate, when to ask again, which build."""

    estimated_seconds: float
    retry_after_seconds: float
    cache_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "estimated_seconds": self.estimated_seconds,
            "retry_after_seconds": self.retry_after_seconds,
            "cache_key": self.cache_key,
        }


@dataclass(frozen=True)
class ExecutionError:
    type: ExecutionErrorType
    message: str
    compilation: CompilationProgress | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type.value, "message": self.message}
        if self.compilation is not None:
            data["compilation"] = self.compilation.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionError:
        progress = data.get("compilation")
        return cls(
            ExecutionErrorType(data["type"]),
            data["message"],
            None if progress is None else CompilationProgress(**progress),
        )


@dataclass(frozen=True)
class ResourcesUsed:
    instructions: int = 0
    time_ms: int = 0
    memory_bytes: int = 0
    compile_ms: int = 0  # the build this request caused (compile-then-run); shown when > 0
    # What the guest asked of the platform (host calls, storage bytes, fetches...; see
    # docs/guest-abi.md), shown when it asked anything. Priced through instructions: each host
    # call costs fuel.
    capabilities: Mapping[str, int] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"instructions": self.instructions, "time_ms": self.time_ms,
                                 "memory_bytes": self.memory_bytes}  # fmt: skip
        if self.compile_ms:
            shown["compile_ms"] = self.compile_ms
        if self.capabilities:
            shown["capabilities"] = dict(sorted(self.capabilities.items()))
        return shown


@dataclass(frozen=True)
class ExecutionResult:
    status: ExecutionStatus
    output: Any = None
    error: ExecutionError | None = None
    resources_used: ResourcesUsed = field(default_factory=ResourcesUsed)
    logs: str = ""
    exit_code: int | None = None
    # USD (the token's smallest unit) the guest gave back via outlayer.refund_usd.
    refund_usd: int = 0

    @property
    def ok(self) -> bool:
        return self.status is ExecutionStatus.SUCCESS

    @classmethod
    def failure(
        cls,
        error_type: ExecutionErrorType,
        message: str,
        resources_used: ResourcesUsed | None = None,
        logs: str = "",
        exit_code: int | None = None,
        *,
        compilation: CompilationProgress | None = None,
    ) -> ExecutionResult:
        return cls(
            status=ExecutionStatus.FAILED,
            error=ExecutionError(error_type, message, compilation),
            resources_used=resources_used or ResourcesUsed(),
            logs=logs,
            exit_code=exit_code,
        )

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "output": self.output,
            "error": None if self.error is None else self.error.to_json(),
            "resources_used": self.resources_used.to_json(),
            "logs": self.logs,
            "exit_code": self.exit_code,
            "refund_usd": str(self.refund_usd),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionResult:
        error = data.get("error")
        used = data.get("resources_used") or {}
        return cls(
            status=ExecutionStatus(data["status"]),
            output=data.get("output"),
            error=None if error is None else ExecutionError.from_json(error),
            resources_used=ResourcesUsed(
                int(used.get("instructions", 0)),
                int(used.get("time_ms", 0)),
                int(used.get("memory_bytes", 0)),
                int(used.get("compile_ms", 0)),
                {str(k): int(v) for k, v in (used.get("capabilities") or {}).items()},
            ),
            logs=data.get("logs", ""),
            exit_code=data.get("exit_code"),
            refund_usd=int(data.get("refund_usd", 0)),
        )

    # --- On chain -------------------------------------------------------------------------
    def to_resolve_args(self, request_id: int, block_seconds: float = 1.0) -> dict[str, Any]:
        """The arguments of resolve_execution for a result, within the contract's output cap."""
        error = self.error
        output = self.output
        success = self.ok
        # The contract refuses what it cannot deliver; such an output is resolved as failed,
        # once, instead of a resolve that would be refused (and retried) forever.
        if success and _depth(output) > MAX_ON_CHAIN_DEPTH:
            success, output = False, None
            error_json: dict[str, str] | None = {
                "type": "invalid_output",
                "message": f"the output is nested more than {MAX_ON_CHAIN_DEPTH} levels deep, "
                "the most a request can return on chain",
            }
        elif success and len(json.dumps(output)) > MAX_ON_CHAIN_OUTPUT:
            success, output = False, None
            error_json = {
                "type": "output_limit",
                "message": f"the output is larger than {MAX_ON_CHAIN_OUTPUT} bytes, the most a "
                "request can return on chain",
            }
        else:
            error_json = (
                None if error is None else {"type": error.type.value, "message": error.message}
            )
        used = self.resources_used
        compilation = None
        if error is not None and error.type is ExecutionErrorType.COMPILATION_IN_PROGRESS:
            # Fields a client contract can act on: when to send the request again, in blocks.
            progress = error.compilation
            retry_s = progress.retry_after_seconds if progress else 60.0
            compilation = {
                "estimated_seconds": math.ceil(progress.estimated_seconds) if progress else 0,
                "retry_after_blocks": math.ceil(retry_s / block_seconds),
                "cache_key": progress.cache_key if progress else "",
            }
        return {
            "request_id": request_id,
            "success": success,
            "output": output if success else None,
            "error": error_json,
            "resources_used": {
                "instructions": used.instructions,
                "time_ms": used.time_ms,
                "compile_ms": used.compile_ms,
            },
            "refund_usd": str(self.refund_usd if success else 0),
            "compilation": compilation,
        }

    # --- Protobuf -----------------------------------------------------------------------------
    def to_proto(self) -> pb.ExecutionResult:
        message = pb.ExecutionResult(
            status=_STATUS_TO_PB[self.status],
            output_json=json.dumps(self.output),
            resources_used=pb.ResourcesUsed(
                instructions=self.resources_used.instructions,
                time_ms=self.resources_used.time_ms,
                memory_bytes=self.resources_used.memory_bytes,
                compile_ms=self.resources_used.compile_ms,
                capabilities=self.resources_used.capabilities,
            ),
            logs=self.logs,
            refund_usd=self.refund_usd,
        )
        if self.error is not None:
            message.error.CopyFrom(
                pb.ExecutionError(type=_ERROR_TO_PB[self.error.type], message=self.error.message)
            )
            progress = self.error.compilation
            if progress is not None:
                message.error.compilation.CopyFrom(
                    pb.CompilationProgress(
                        estimated_seconds=progress.estimated_seconds,
                        retry_after_seconds=progress.retry_after_seconds,
                        cache_key=progress.cache_key,
                    )
                )
        if self.exit_code is not None:
            message.exit_code = self.exit_code
        return message

    @classmethod
    def from_proto(cls, message: pb.ExecutionResult) -> ExecutionResult:
        error = None
        if message.HasField("error"):
            progress = None
            if message.error.HasField("compilation"):
                got = message.error.compilation
                progress = CompilationProgress(
                    got.estimated_seconds, got.retry_after_seconds, got.cache_key
                )
            error = ExecutionError(
                _ERROR_FROM_PB[message.error.type], message.error.message, progress
            )
        used = message.resources_used
        return cls(
            status=_STATUS_FROM_PB[message.status],
            output=json.loads(message.output_json) if message.output_json else None,
            error=error,
            resources_used=ResourcesUsed(
                used.instructions,
                used.time_ms,
                used.memory_bytes,
                used.compile_ms,
                dict(used.capabilities),
            ),
            logs=message.logs,
            exit_code=message.exit_code if message.HasField("exit_code") else None,
            refund_usd=message.refund_usd,
        )


def render_output(raw: bytes, response_format: ResponseFormat) -> tuple[Any, ExecutionError | None]:
    """Turns a guest's raw stdout into the output value the caller asked for."""
    if response_format is ResponseFormat.BYTES:
        return base64.b64encode(raw).decode("ascii"), None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, ExecutionError(
            ExecutionErrorType.INVALID_OUTPUT,
            f"output is not valid UTF-8 (byte {exc.start}); ask for response_format=bytes "
            "to receive binary output",
        )
    if response_format is ResponseFormat.TEXT:
        return text, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        preview = text[:80] + ("..." if len(text) > 80 else "")
        return None, ExecutionError(
            ExecutionErrorType.INVALID_OUTPUT,
            f"output is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"output began: {preview!r}. Print one JSON document, or ask for "
            "response_format=text",
        )


RESPONSE_FORMAT_FROM_PB: dict[int, ResponseFormat] = {
    pb.RESPONSE_FORMAT_UNSPECIFIED: ResponseFormat.TEXT,
    pb.RESPONSE_FORMAT_TEXT: ResponseFormat.TEXT,
    pb.RESPONSE_FORMAT_JSON: ResponseFormat.JSON,
    pb.RESPONSE_FORMAT_BYTES: ResponseFormat.BYTES,
}
RESPONSE_FORMAT_TO_PB: dict[ResponseFormat, pb.ResponseFormat.ValueType] = {
    ResponseFormat.TEXT: pb.RESPONSE_FORMAT_TEXT,
    ResponseFormat.JSON: pb.RESPONSE_FORMAT_JSON,
    ResponseFormat.BYTES: pb.RESPONSE_FORMAT_BYTES,
}


def response_format_on_chain(value: object) -> pb.ResponseFormat.ValueType:
    """A request's ``response_format`` as the contract stores it ("text", "json", "bytes")."""
    try:
        return RESPONSE_FORMAT_TO_PB[ResponseFormat(str(value))]
    except ValueError:
        return pb.RESPONSE_FORMAT_TEXT


_STATUS_TO_PB: dict[ExecutionStatus, pb.ExecutionStatus.ValueType] = {
    ExecutionStatus.SUCCESS: pb.EXECUTION_STATUS_SUCCESS,
    ExecutionStatus.FAILED: pb.EXECUTION_STATUS_FAILED,
}
_STATUS_FROM_PB = {value: key for key, value in _STATUS_TO_PB.items()}
_ERROR_TO_PB: dict[ExecutionErrorType, pb.ExecutionErrorType.ValueType] = {
    kind: pb.ExecutionErrorType.Value("EXECUTION_ERROR_TYPE_" + kind.name)
    for kind in ExecutionErrorType
}
_ERROR_FROM_PB = {value: key for key, value in _ERROR_TO_PB.items()}


def _depth(value: Any) -> int:
    """How deeply JSON containers nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return deepest
