"""What a module declares about itself in custom sections, read by the executor.

``outlayer.fetch``: the hosts the module may fetch from, one per line (or a JSON list), written
by the project's owner into the code they publish, so the list is part of the measured module
(its SHA-256) and cannot be widened by the operator or a caller.
"""

from __future__ import annotations

import json

FETCH_SECTION = "outlayer.fetch"
MAX_HOSTS = 32
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.*")


class ManifestError(ValueError):
    pass


def custom_sections(wasm: bytes) -> dict[str, bytes]:
    """The custom sections of a module by name (the last one of a name wins)."""
    found: dict[str, bytes] = {}
    at = 8  # after the magic and version
    while at < len(wasm):
        section_id = wasm[at]
        size, at = _leb128(wasm, at + 1)
        end = at + size
        if end > len(wasm):
            raise ManifestError("a section runs past the end of the module")
        if section_id == 0:
            name_size, name_at = _leb128(wasm, at)
            name = wasm[name_at : name_at + name_size].decode("utf-8", errors="replace")
            found[name] = wasm[name_at + name_size : end]
        at = end
    return found


def declared_fetch_hosts(wasm: bytes) -> list[str]:
    """The hosts of the ``outlayer.fetch`` section ([] when there is none)."""
    section = custom_sections(wasm).get(FETCH_SECTION)
    if section is None:
        return []
    text = section.decode("utf-8", errors="strict").strip()
    hosts = json.loads(text) if text.startswith("[") else text.split()
    if not isinstance(hosts, list) or len(hosts) > MAX_HOSTS:
        raise ManifestError(f"{FETCH_SECTION} lists at most {MAX_HOSTS} hosts")
    checked = []
    for host in hosts:
        name = str(host).strip().lower().rstrip(".")
        wildcard_ok = name.count("*") == 0 or (name.startswith("*.") and name.count("*") == 1)
        if not name or not set(name) <= _HOST_CHARS or not wildcard_ok:
            raise ManifestError(f"{FETCH_SECTION}: {str(host)[:80]!r} is not a host name")
        checked.append(name)
    return checked


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 35:
            raise ManifestError("a malformed section size")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
