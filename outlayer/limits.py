"""Resource limits a caller asks for, resolved against the platform's defaults and hard caps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from outlayer.errors import invalid_argument, limit_exceeded

if TYPE_CHECKING:  # the sandbox's workers import this module: no pydantic, no protobuf there
    from outlayer.config import LimitSettings
    from outlayer.v1 import execution_pb2

# Guests' storage: a key's size, checked by the executor and the coordinator alike.
STORAGE_MAX_KEY_BYTES = 512


@dataclass(frozen=True)
class RequestedLimits:
    """What a caller asked for; ``None`` means "use the platform default"."""

    max_instructions: int | None = None
    max_memory_mb: int | None = None
    max_execution_seconds: float | None = None


@dataclass(frozen=True)
class ResourceLimits:
    """Limits in force for one execution (every field set, every field within the caps)."""

    max_instructions: int
    max_memory_mb: int
    max_execution_seconds: float

    @property
    def max_memory_bytes(self) -> int:
        return self.max_memory_mb * 1024 * 1024


def resolve_limits(requested: RequestedLimits, policy: LimitSettings) -> ResourceLimits:
    """Fills defaults and refuses anything above a cap (never clamps silently)."""
    instructions = _resolve_int(
        "max_instructions",
        requested.max_instructions,
        policy.default_instructions,
        policy.max_instructions,
    )
    memory_mb = _resolve_int(
        "max_memory_mb", requested.max_memory_mb, policy.default_memory_mb, policy.max_memory_mb
    )
    seconds = requested.max_execution_seconds
    if seconds is None:
        seconds = policy.default_execution_seconds
    elif not math.isfinite(seconds) or seconds <= 0:
        raise invalid_argument(f"max_execution_seconds must be a positive number, got {seconds}")
    elif seconds > policy.max_execution_seconds:
        raise limit_exceeded(
            f"max_execution_seconds={seconds:g} is above the cap of "
            f"{policy.max_execution_seconds:g}; ask for {policy.max_execution_seconds:g} or less"
        )
    return ResourceLimits(instructions, memory_mb, seconds)


def _resolve_int(name: str, value: int | None, default: int, cap: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_argument(f"{name} must be a positive whole number, got {value!r}")
    if value > cap:
        raise limit_exceeded(f"{name}={value} is above the cap of {cap}; ask for {cap} or less")
    return value


def limits_from_proto(limits: execution_pb2.ResourceLimits) -> RequestedLimits:
    """0 (proto's "unset") means "the platform default"."""
    return RequestedLimits(
        max_instructions=limits.max_instructions or None,
        max_memory_mb=limits.max_memory_mb or None,
        max_execution_seconds=limits.max_execution_seconds or None,
    )


def limits_to_proto(limits: ResourceLimits | RequestedLimits) -> execution_pb2.ResourceLimits:
    from outlayer.v1 import execution_pb2

    return execution_pb2.ResourceLimits(
        max_instructions=limits.max_instructions or 0,
        max_memory_mb=limits.max_memory_mb or 0,
        max_execution_seconds=limits.max_execution_seconds or 0.0,
    )
