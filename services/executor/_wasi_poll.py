"""Our own WASI ``poll_oneoff``: a guest's sleep ends early when its wall-clock limit is reached.

Wasmtime's built-in ``poll_oneoff`` blocks the thread, and epoch interruption cannot reach a guest
blocked inside a host call. The guest has no files or sockets, so the only thing it can wait for
is a clock; we implement that wait on an :class:`threading.Event` that the deadline sets. (The
worker process is still killed hard if anything else ever blocks; see ``_pool``.)
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable

import wasmtime

SUBSCRIPTION_SIZE = 48
EVENT_SIZE = 32
TAG_CLOCK, TAG_FD_READ, TAG_FD_WRITE = 0, 1, 2
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
SUBCLOCK_ABSTIME = 1
ERRNO_SUCCESS, ERRNO_BADF, ERRNO_FAULT, ERRNO_INVAL, ERRNO_NOTSUP = 0, 8, 21, 28, 58
STDIO_FDS = (0, 1, 2)
# A guest can wait only on clocks and stdio, so a handful of subscriptions is all it needs;
# the cap bounds the (unmetered) host work one call may ask for.
MAX_SUBSCRIPTIONS = 1024
_U32 = 0xFFFFFFFF


def poll_oneoff_type() -> wasmtime.FuncType:
    """A new one each time: wasmtime ties a function type to the first engine that uses it."""
    return wasmtime.FuncType([wasmtime.ValType.i32()] * 4, [wasmtime.ValType.i32()])


class DeadlineReached(Exception):
    """Raised inside a host call to stop a guest whose wall-clock limit has passed."""


def make_poll_oneoff(deadline: threading.Event, longest_wait_s: float) -> Callable[..., int]:
    """``longest_wait_s``: no sleep needs to outlast the run's own wall-clock limit."""

    def poll_oneoff(
        caller: wasmtime.Caller, in_ptr: int, out_ptr: int, count: int, nevents_ptr: int
    ) -> int:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return ERRNO_FAULT
        # i32 arguments arrive signed; WASI reads them as unsigned pointers and sizes.
        in_ptr, out_ptr, count, nevents_ptr = (
            v & _U32 for v in (in_ptr, out_ptr, count, nevents_ptr)
        )
        if count == 0 or count > MAX_SUBSCRIPTIONS:
            return ERRNO_INVAL
        # memory.read and memory.write clip a range past the end instead of failing: check it.
        size = memory.data_len(caller)
        if (
            in_ptr + count * SUBSCRIPTION_SIZE > size
            or out_ptr + count * EVENT_SIZE > size
            or nevents_ptr + 4 > size
        ):
            return ERRNO_FAULT
        raw = memory.read(caller, in_ptr, in_ptr + count * SUBSCRIPTION_SIZE)
        ready: list[bytes] = []
        waits: list[tuple[float, int]] = []  # (seconds to wait, userdata)
        for index in range(count):
            base = index * SUBSCRIPTION_SIZE
            userdata, tag = struct.unpack_from("<QB", raw, base)
            if tag == TAG_CLOCK:
                clock_id, timeout_ns, _precision, flags = struct.unpack_from(
                    "<I4xQQH", raw, base + 16
                )
                seconds = _clock_wait_seconds(clock_id, timeout_ns, flags)
                if seconds is None:
                    ready.append(_event(userdata, ERRNO_NOTSUP, tag))
                else:
                    waits.append((seconds, userdata))
            elif tag in (TAG_FD_READ, TAG_FD_WRITE):
                (fd,) = struct.unpack_from("<I", raw, base + 16)
                error = ERRNO_SUCCESS if fd in STDIO_FDS else ERRNO_BADF
                ready.append(_event(userdata, error, tag))
            else:
                return ERRNO_INVAL
        if not ready and waits:
            shortest = min(seconds for seconds, _ in waits)
            if deadline.wait(min(shortest, longest_wait_s)):
                raise DeadlineReached("wall-clock limit reached while the guest slept")
            ready = [_event(u, ERRNO_SUCCESS, TAG_CLOCK) for s, u in waits if s <= shortest]
        memory.write(caller, b"".join(ready), out_ptr)
        memory.write(caller, struct.pack("<I", len(ready)), nevents_ptr)
        return ERRNO_SUCCESS

    return poll_oneoff


def _clock_wait_seconds(clock_id: int, timeout_ns: int, flags: int) -> float | None:
    if not flags & SUBCLOCK_ABSTIME:
        return timeout_ns / 1e9
    # Absolute deadlines are supported on the realtime clock only: the guest's monotonic clock
    # has an origin private to wasmtime.
    if clock_id == CLOCK_REALTIME:
        return max(0.0, (timeout_ns - time.time_ns()) / 1e9)
    return None


def _event(userdata: int, error: int, tag: int) -> bytes:
    return struct.pack("<QHB5xQH6x", userdata, error, tag, 0, 0)
