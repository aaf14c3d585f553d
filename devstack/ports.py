"""The ports of a development stack: its defaults, what a user may give, and the record a
running stack keeps in its folder (``stack.json``) so ``dev request`` and ``dev demo`` reach
it without being told its ports again."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from outlayer.errors import invalid_argument

RECORD = "stack.json"


@dataclass(frozen=True)
class Ports:
    localnet: int = 3030
    coordinator: int = 50060
    executor: int = 50061
    edge: int = 8443
    keystore: int = 50064
    compiler: int = 50063
    crates: int = 50070  # the development crate registry (Debian's crates)


def port_number(text: str) -> int:
    """An argparse type: a TCP port a service can listen on (1-65535)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a port is a number from 1 to 65535, got {text!r}"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {port}")
    return port


def record_ports(directory: Path, ports: Ports) -> None:
    from devstack.supervise import write_private

    write_private(directory / RECORD, json.dumps(asdict(ports)) + "\n")


def recorded_ports(directory: Path, **given: int) -> Ports:
    """The ports the stack on ``directory`` recorded when it started (the defaults where it
    recorded none), overridden by ``given``."""
    record: dict[str, int] = {}
    path = directory / RECORD
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            why = f"{path} is unreadable ({exc}); restart `outlayer dev`"
            raise invalid_argument(why) from None
        names = {f.name for f in fields(Ports)}
        if isinstance(loaded, dict):
            record = {k: v for k, v in loaded.items() if k in names and isinstance(v, int)}
    return Ports(**{**record, **given})
