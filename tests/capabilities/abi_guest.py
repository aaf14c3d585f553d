"""Guests that call OutLayer's host functions in a given order, written as WAT by the tests.

Each call's status and answer are written to stdout as a record: the i64 status (little
endian), the answer's length (u32) and the answer's bytes (what ``result_read`` copied), so a
test reads back exactly what the guest saw. Run them with ``ResponseFormat.BYTES``.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

import wasmtime

from services.executor._guest_abi import GuestAbi

_RECORD_AT = 140_000  # status (8) | length (4) | answer
_ANSWER_ROOM = 100_000
_DATA_FROM = 1024


@dataclass(frozen=True)
class Record:
    status: int
    answer: bytes


@dataclass
class AbiGuest:
    """``call("storage_set", b"key", b"value", 0)``: bytes become (pointer, length) pairs,
    ints the next parameter's type. ``fetch_hosts``: the module's outlayer.fetch section."""

    fetch_hosts: str | None = None
    pages: int = 4
    _data: list[tuple[int, bytes]] = field(default_factory=list)
    _body: list[str] = field(default_factory=list)
    _at: int = _DATA_FROM

    def call(self, name: str, *args: bytes | int) -> AbiGuest:
        params = _params(name)
        values: list[str] = []
        for arg in args:
            if isinstance(arg, bytes):
                values += [f"(i32.const {self._place(arg)})", f"(i32.const {len(arg)})"]
            else:
                values.append(f"({params[len(values)]}.const {arg})")
        if len(values) != len(params):
            raise ValueError(f"{name} takes {len(params)} values, got {len(values)}")
        self._body.append(f"(call $record (call ${name} {' '.join(values)}))")
        return self

    def raw(self, wat: str) -> AbiGuest:
        self._body.append(wat)
        return self

    def wasm(self) -> bytes:
        imports = "\n".join(
            f'(import "outlayer" "{name}" (func ${name} (param {" ".join(_params(name))}) '
            "(result i64)))"
            for name in sorted(GuestAbi.names() - {"result_read"})
        ).replace("(param )", "")
        data = "\n".join(f'(data (i32.const {at}) "{_escape(value)}")' for at, value in self._data)
        module = bytes(wasmtime.wat2wasm(_TEMPLATE.format(
            imports=imports, pages=self.pages, data=data, body="\n".join(self._body),
            record=_RECORD_AT, room=_ANSWER_ROOM, answer_at=_RECORD_AT + 12,
            length_at=_RECORD_AT + 8,
        )))  # fmt: skip
        if self.fetch_hosts is None:
            return module
        return module + _custom_section("outlayer.fetch", self.fetch_hosts.encode())

    def _place(self, value: bytes) -> int:
        at = self._at
        self._data.append((at, value))
        self._at += max(len(value), 1) + 8
        if self._at > _RECORD_AT:
            raise ValueError("the guest's data is over its first 140,000 bytes")
        return at


def records(output: str) -> list[Record]:
    """The records a guest wrote (its output in the BYTES format: base64)."""
    raw = base64.b64decode(output)
    found, at = [], 0
    while at < len(raw):
        status, length = struct.unpack_from("<qI", raw, at)
        found.append(Record(status, raw[at + 12 : at + 12 + length]))
        at += 12 + length
    return found


def _params(name: str) -> list[str]:
    types = {"storage_get": "i32 i32 i32", "storage_set": "i32 i32 i32 i32 i32",
             "storage_delete": "i32 i32 i32", "storage_swap": "i32 i32 i32 i32 i32 i32 i32",
             "storage_increment": "i32 i32 i64 i32", "storage_list": "i32 i32 i32 i32 i32",
             "random": "i32 i32", "near_view": "i32 i32 i32 i32 i32 i32",
             "near_view_account": "i32 i32", "near_block": "", "fetch": "i32 i32"}  # fmt: skip
    return types[name].split()


def _escape(value: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in value)


def _custom_section(name: str, payload: bytes) -> bytes:
    body = _leb(len(name.encode())) + name.encode() + payload
    return b"\x00" + _leb(len(body)) + body


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


_TEMPLATE = """
(module
  {imports}
  (import "outlayer" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
  {data}
  (func $record (param $status i64) (local $length i32)
    (i64.store (i32.const {record}) (local.get $status))
    (local.set $length (call $result_read (i32.const {answer_at}) (i32.const {room})))
    (i32.store (i32.const {length_at}) (local.get $length))
    (i32.store (i32.const 16) (i32.const {record}))
    (i32.store (i32.const 20) (i32.add (local.get $length) (i32.const 12)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
  (func (export "_start")
    {body}))
"""
