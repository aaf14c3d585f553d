"""What a module declares about itself, read by the executor: the hosts it may fetch from (its
``outlayer.fetch`` custom section, see ``outlayer/fetch_hosts.py``), written by the project's
owner into the code they publish or by the compiler from their ``outlayer.toml``, so the list
is part of the measured module (its SHA-256) and cannot be widened by the operator or a caller.
"""

from __future__ import annotations

from outlayer.fetch_hosts import FETCH_SECTION, custom_section, parse_section


def declared_fetch_hosts(wasm: bytes) -> list[str]:
    """The hosts of the ``outlayer.fetch`` section ([] when there is none); ValueError when it
    is malformed."""
    section = custom_section(wasm, FETCH_SECTION)
    return [] if section is None else parse_section(section)
