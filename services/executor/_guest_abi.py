"""The guest's side of OutLayer's host functions: the ``outlayer`` import module (issue #15).

Runs inside the sandbox process. Each function reads its arguments from the guest's memory,
asks a :class:`HostBridge` for the answer (in a worker, the executor over the worker's pipes:
the sandbox itself reaches nothing), and returns an ``i64``: zero or more on success (usually
the length of the answer, which waits in the *result buffer* until ``result_read`` copies it
into the guest's memory), a negative :class:`HostStatus` on failure (the result buffer then
holds a UTF-8 message saying why). The ABI is documented in ``docs/guest-abi.md``.

Every call costs fuel (instructions) before it is made, so the guest's instruction limit and its
price cover what it asks of the platform: :data:`CALL_FUEL` per call, plus :data:`BYTE_FUEL`
per byte in and out, plus what the answer says it cost (``fuel``: a fetch, a chain read).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol

import wasmtime

MODULE = "outlayer"
CALL_FUEL = 50_000
BYTE_FUEL = 20
PER_CALLER = 1  # flags: the caller's own space instead of the project's shared one
EXPECT_ABSENT = 2  # storage_swap: succeed only if the key is absent (expected is ignored)
MAX_ARGUMENT_BYTES = 1 << 20
# near:rpc/api's answer to a guest asking to sign (components; the chain capability's too).
SIGNING_REFUSED = "signing from a guest is not enabled on this platform"


class HostStatus(enum.IntEnum):
    """Negative results of a host function; the result buffer holds the message."""

    NOT_FOUND = -1  # storage_get: no such key
    NOT_ENABLED = -2  # the platform serves no such capability here
    LIMIT = -3  # a per-run cap (calls, bytes, time) was reached
    QUOTA = -4  # the project's storage quota is full
    INVALID = -5  # a malformed argument (bad UTF-8, a bad account id, a bad URL)
    UNAVAILABLE = -6  # the service behind it did not answer in time; trying later may work
    REFUSED = -7  # not allowed: a host off the allowlist, a private address, a signing method
    CONFLICT = -8  # storage: written meanwhile by another run (compare-and-swap lost)
    FAILED = -9  # the service answered with an error (a view that panicked, an HTTP failure)


class HostBridge(Protocol):
    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request: ``{"ok": True, ...}`` or ``{"ok": False, "status": n,
        "message": text}``."""
        ...


class NoHost:
    """Where nothing is served (a run without a job's services): every capability is off."""

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": False,
            "status": int(HostStatus.NOT_ENABLED),
            "message": f"{request.get('op')} is not available in this run",
        }


I32, I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
# name: (parameter types, how the parameters become a request)
_Signature = tuple[list[wasmtime.ValType], Callable[..., dict[str, Any]]]


class GuestAbi:
    """The host functions of one run, defined on its linker before the job arrives."""

    def __init__(self, bridge: HostBridge) -> None:
        self.bridge = bridge
        self._result = b""
        self.calls = 0

    def define(self, linker: wasmtime.Linker) -> None:
        for name, (params, make_request) in self._signatures().items():
            linker.define_func(
                MODULE,
                name,
                wasmtime.FuncType(params, [I64]),
                self._host_function(name, make_request),
                access_caller=True,
            )
        linker.define_func(
            MODULE,
            "result_read",
            wasmtime.FuncType([I32, I32], [I32]),
            self._result_read,
            access_caller=True,
        )

    @staticmethod
    def names() -> frozenset[str]:
        return frozenset(GuestAbi._signatures()) | {"result_read"}

    # --- the functions -------------------------------------------------------------------------
    @staticmethod
    def _signatures() -> dict[str, _Signature]:
        def key(read: _Reader, ptr: int, length: int, flags: int) -> dict[str, Any]:
            return {"key": read.text(ptr, length, "key"), "per_caller": bool(flags & PER_CALLER)}

        return {
            "storage_get": ([I32, I32, I32], lambda r, p, n, f: {
                "op": "storage.get", **key(r, p, n, f)}),
            "storage_set": ([I32, I32, I32, I32, I32], lambda r, p, n, vp, vn, f: {
                "op": "storage.set", **key(r, p, n, f), "value": r.bytes(vp, vn)}),
            "storage_delete": ([I32, I32, I32], lambda r, p, n, f: {
                "op": "storage.delete", **key(r, p, n, f)}),
            "storage_swap": ([I32] * 7, lambda r, p, n, ep, en, vp, vn, f: {
                "op": "storage.swap", **key(r, p, n, f),
                "expected": None if f & EXPECT_ABSENT else r.bytes(ep, en),
                "value": r.bytes(vp, vn)}),
            "storage_increment": ([I32, I32, I64, I32], lambda r, p, n, delta, f: {
                "op": "storage.increment", **key(r, p, n, f), "delta": delta}),
            "storage_list": ([I32, I32, I32, I32, I32], lambda r, p, n, cp, cn, f: {
                "op": "storage.list", "prefix": r.text(p, n, "prefix"),
                "cursor": r.text(cp, cn, "cursor"), "per_caller": bool(f & PER_CALLER)}),
            "random": ([I32, I32], lambda r, p, n: {"op": "random", "seed": r.bytes(p, n)}),
            "near_view": ([I32, I32, I32, I32, I32, I32], lambda r, cp, cn, mp, mn, ap, an: {
                "op": "near.view", "contract": r.text(cp, cn, "contract"),
                "method": r.text(mp, mn, "method"), "args": r.bytes(ap, an)}),
            "near_view_account": ([I32, I32], lambda r, p, n: {
                "op": "near.view_account", "account": r.text(p, n, "account")}),
            "near_block": ([], lambda r: {"op": "near.block"}),
            "fetch": ([I32, I32], lambda r, p, n: {"op": "fetch", "request": r.bytes(p, n)}),
        }  # fmt: skip

    def _host_function(
        self, name: str, make_request: Callable[..., dict[str, Any]]
    ) -> Callable[..., int]:
        def host_function(caller: wasmtime.Caller, *args: int) -> int:
            self.calls += 1
            reader = _Reader(caller)
            try:
                request = make_request(reader, *args)
            except _BadArgument as exc:
                return self._fail(HostStatus.INVALID, f"{name}: {exc}")
            _charge(caller, CALL_FUEL + BYTE_FUEL * reader.bytes_read)
            answer = self.bridge.call(request)
            if not answer.get("ok"):
                return self._fail(HostStatus(answer["status"]), str(answer.get("message", "")))
            data: bytes = answer.get("data", b"")
            _charge(caller, BYTE_FUEL * len(data) + int(answer.get("fuel", 0)))
            self._result = data
            value = answer.get("value")
            return int(value) if value is not None else len(data)

        return host_function

    def _fail(self, status: HostStatus, message: str) -> int:
        self._result = message.encode("utf-8", errors="replace")
        return int(status)

    def _result_read(self, caller: wasmtime.Caller, ptr: int, cap: int) -> int:
        """Copies the result buffer (at most ``cap`` bytes) to ``ptr``; returns the bytes
        copied. The buffer stays until the next host call, so it can be read again."""
        memory = _memory(caller)
        data = self._result[: max(cap, 0)]
        if ptr < 0 or ptr + len(data) > memory.data_len(caller):
            raise wasmtime.Trap(f"result_read: {len(data)} bytes at {ptr} are outside memory")
        memory.write(caller, data, ptr)
        return len(data)


class _BadArgument(Exception):
    pass


class _Reader:
    def __init__(self, caller: wasmtime.Caller) -> None:
        self._caller = caller
        self.bytes_read = 0

    def bytes(self, ptr: int, length: int) -> bytes:
        if length < 0 or length > MAX_ARGUMENT_BYTES:
            raise _BadArgument(f"a length of {length} bytes (at most {MAX_ARGUMENT_BYTES})")
        memory = _memory(self._caller)
        if ptr < 0 or ptr + length > memory.data_len(self._caller):
            raise _BadArgument(f"{length} bytes at {ptr} are outside the guest's memory")
        self.bytes_read += length
        return bytes(memory.read(self._caller, ptr, ptr + length))

    def text(self, ptr: int, length: int, what: str) -> str:
        try:
            return self.bytes(ptr, length).decode("utf-8")
        except UnicodeDecodeError:
            raise _BadArgument(f"the {what} is not UTF-8") from None


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory:
    memory = caller.get("memory")
    if not isinstance(memory, wasmtime.Memory):
        raise wasmtime.Trap("the module exports no memory named `memory`")
    return memory


def _charge(caller: wasmtime.Caller, fuel: int) -> None:
    """Takes ``fuel`` from the run; past its limit the guest stops at its next instruction with
    instruction_limit, as if it had spent them itself."""
    # Store's fuel methods need only a context, which a Caller is (wasmtime's C API asks that
    # a host function reach its store through the caller).
    left = wasmtime.Store.get_fuel(caller)  # type: ignore[arg-type]
    wasmtime.Store.set_fuel(caller, max(left - fuel, 0))  # type: ignore[arg-type]
