"""The hosts a module may fetch from: its ``outlayer.fetch`` custom section (issue #15).

Written by the module's own source (Rust and C can) or, from ``outlayer.toml``'s
``[capabilities] fetch_hosts``, appended by the compiler to the module it built (so Go and
AssemblyScript can too); either way the list is part of the module, so its SHA-256 covers it.
Read by the executor for each run (``services/executor/capabilities/manifest.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

FETCH_SECTION = "outlayer.fetch"
MAX_HOSTS = 32
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.*")


class HostListError(ValueError):
    pass


def checked_hosts(hosts: Sequence[object]) -> list[str]:
    """Host names, lowercased: ``api.example.com``, or ``*.example.com`` for its subdomains."""
    if len(hosts) > MAX_HOSTS:
        raise HostListError(f"{FETCH_SECTION} lists at most {MAX_HOSTS} hosts")
    checked = []
    for host in hosts:
        name = str(host).strip().lower().rstrip(".")
        wildcard_ok = name.count("*") == 0 or (name.startswith("*.") and name.count("*") == 1)
        if not isinstance(host, str) or not name or not set(name) <= _HOST_CHARS or not wildcard_ok:
            raise HostListError(f"{FETCH_SECTION}: {str(host)[:80]!r} is not a host name")
        checked.append(name)
    return checked


def parse_section(payload: bytes) -> list[str]:
    """One host per line, or a JSON list."""
    text = payload.decode("utf-8", errors="strict").strip()
    hosts = json.loads(text) if text.startswith("[") else text.split()
    if not isinstance(hosts, list):
        raise HostListError(f"{FETCH_SECTION} is one host per line or a JSON list")
    return checked_hosts(hosts)


def custom_section(wasm: bytes, wanted: str) -> bytes | None:
    """The payload of the module's last custom section named ``wanted`` (None: there is none).
    Run for every job: only section headers are read, and only the wanted one is copied."""
    found: bytes | None = None
    key = wanted.encode()
    at = 8  # after the magic and version
    while at < len(wasm):
        section_id = wasm[at]
        size, at = _leb128(wasm, at + 1)
        end = at + size
        if end > len(wasm):
            raise HostListError("a section runs past the end of the module")
        if section_id == 0:
            name_size, name_at = _leb128(wasm, at)
            if wasm[name_at : name_at + name_size] == key:
                found = wasm[name_at + name_size : end]
        at = end
    return found


def with_fetch_section(wasm: bytes, hosts: list[str]) -> bytes:
    """The module with an ``outlayer.fetch`` section listing ``hosts`` appended (a custom
    section may come last: nothing else in the module changes)."""
    name = FETCH_SECTION.encode()
    body = _leb(len(name)) + name + "\n".join(hosts).encode() + b"\n"
    return wasm + b"\x00" + _leb(len(body)) + body


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 35:
            raise HostListError("a malformed section size")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
