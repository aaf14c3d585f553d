"""The one error taxonomy.

Two families, never mixed:

* :class:`ExecutionErrorType` -- why a *guest* failed. It is data inside an
  :class:`~outlayer.result.ExecutionResult` (the request itself was fine).
* :class:`OutlayerError` -- why the *platform refused a request* (bad input, over a cap, not
  found, ...). It is raised, and each transport renders it its own way: a gRPC status, an HTTP
  JSON body, or a CLI message with exit code 2.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # gRPC is imported where it is used: the sandbox's workers import this
    import grpc  # module too, and every module a worker imports is paid for at every fork


class ExecutionErrorType(enum.StrEnum):
    INVALID_WASM = "invalid_wasm"
    LINK_ERROR = "link_error"
    INSTRUCTION_LIMIT = "instruction_limit"
    MEMORY_LIMIT = "memory_limit"
    TIMEOUT = "timeout"
    RUNTIME_ERROR = "runtime_error"
    OUTPUT_LIMIT = "output_limit"
    INVALID_OUTPUT = "invalid_output"
    EXIT_CODE = "exit_code"
    WORKER_FAILURE = "worker_failure"
    # The code source could not be turned into a module (the compiler's categories refine it).
    COMPILATION_ERROR = "compilation_error"
    # The job names stored secrets: the requester fails their access condition, or none exist.
    # Either way the guest never runs.
    SECRETS_ACCESS_DENIED = "secrets_access_denied"
    SECRETS_NOT_FOUND = "secrets_not_found"
    SECRETS_INVALID = "secrets_invalid"  # stored, but not decryptable or setting reserved names
    # The job names a module by its SHA-256 that the platform does not hold: it never runs.
    MODULE_NOT_FOUND = "module_not_found"
    # The source is compiling: ask again after the error's retry hint.
    COMPILATION_IN_PROGRESS = "compilation_in_progress"
    # The compiler's categories (services/compiler/failures.py): safe to show, raw output never.
    REPOSITORY_NOT_FOUND = "repository_not_found"
    REPOSITORY_ACCESS_DENIED = "repository_access_denied"
    INVALID_REPOSITORY_URL = "invalid_repository_url"
    GIT_ERROR = "git_error"
    NETWORK_ERROR = "network_error"
    RUST_COMPILATION_ERROR = "rust_compilation_error"
    DEPENDENCY_NOT_FOUND = "dependency_not_found"
    BUILD_SCRIPT_ERROR = "build_script_error"
    GIT_FATAL_ERROR = "git_fatal_error"
    GIT_USAGE_ERROR = "git_usage_error"
    DEPENDENCY_TOO_LARGE = "dependency_too_large"


# Results of jobs whose guest never ran: nothing is charged for them.
NOT_RUN: frozenset[ExecutionErrorType] = frozenset(
    {
        ExecutionErrorType.COMPILATION_ERROR,
        ExecutionErrorType.COMPILATION_IN_PROGRESS,
        ExecutionErrorType.REPOSITORY_NOT_FOUND,
        ExecutionErrorType.REPOSITORY_ACCESS_DENIED,
        ExecutionErrorType.INVALID_REPOSITORY_URL,
        ExecutionErrorType.GIT_ERROR,
        ExecutionErrorType.NETWORK_ERROR,
        ExecutionErrorType.RUST_COMPILATION_ERROR,
        ExecutionErrorType.DEPENDENCY_NOT_FOUND,
        ExecutionErrorType.BUILD_SCRIPT_ERROR,
        ExecutionErrorType.GIT_FATAL_ERROR,
        ExecutionErrorType.GIT_USAGE_ERROR,
        ExecutionErrorType.DEPENDENCY_TOO_LARGE,
        ExecutionErrorType.SECRETS_ACCESS_DENIED,
        ExecutionErrorType.SECRETS_NOT_FOUND,
        ExecutionErrorType.SECRETS_INVALID,
        ExecutionErrorType.MODULE_NOT_FOUND,
    }
)


class ErrorCode(enum.StrEnum):
    """Stable codes for refused requests; each maps to one gRPC status."""

    INVALID_ARGUMENT = "invalid_argument"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_FOUND = "not_found"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    UNAVAILABLE = "unavailable"
    CONFIGURATION = "configuration_error"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    # Something this needs is held by another (a folder another process owns, a taken port).
    IN_USE = "in_use"
    INTERNAL = "internal"
    # The requester fails the access condition of the secrets a request names.
    ACCESS_CONDITION = "access_condition_failed"
    # The state changed since the caller read it (a compare-and-swap that lost, a record that
    # belongs elsewhere): read again, then decide.
    CONFLICT = "conflict"


_GRPC_STATUS: dict[ErrorCode, str] = {  # grpc.StatusCode names
    ErrorCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    ErrorCode.LIMIT_EXCEEDED: "INVALID_ARGUMENT",
    ErrorCode.NOT_FOUND: "NOT_FOUND",
    ErrorCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    ErrorCode.PERMISSION_DENIED: "PERMISSION_DENIED",
    ErrorCode.UNAVAILABLE: "UNAVAILABLE",
    ErrorCode.CONFIGURATION: "FAILED_PRECONDITION",
    ErrorCode.INSUFFICIENT_BALANCE: "RESOURCE_EXHAUSTED",
    ErrorCode.IN_USE: "FAILED_PRECONDITION",
    ErrorCode.INTERNAL: "INTERNAL",
    ErrorCode.ACCESS_CONDITION: "PERMISSION_DENIED",
    ErrorCode.CONFLICT: "ALREADY_EXISTS",
}


class OutlayerError(Exception):
    """A request the platform refuses, with a message the user can act on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def grpc_status(self) -> grpc.StatusCode:
        import grpc

        return grpc.StatusCode[_GRPC_STATUS[self.code]]

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


def invalid_argument(message: str) -> OutlayerError:
    return OutlayerError(ErrorCode.INVALID_ARGUMENT, message)


def limit_exceeded(message: str) -> OutlayerError:
    return OutlayerError(ErrorCode.LIMIT_EXCEEDED, message)


def error_from_rpc(exc: grpc.RpcError, service: str = "the service") -> OutlayerError:
    """The OutlayerError a service raised, recovered from its status details ("code: message");
    a transport failure becomes UNAVAILABLE."""
    details = exc.details() or ""
    code, sep, message = details.partition(": ")
    known = {item.value: item for item in ErrorCode}
    if sep and code in known:
        return OutlayerError(known[code], message)
    return OutlayerError(ErrorCode.UNAVAILABLE, f"{service} did not answer: {details}")
