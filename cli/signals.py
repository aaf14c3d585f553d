"""How every long-running command stops: SIGTERM or Ctrl-C sets an event (and may run a hook)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def stop_on_signals(on_stop: Callable[[], None] | None = None) -> threading.Event:
    """An event set by SIGTERM or SIGINT; ``on_stop`` runs in a thread of its own when it is."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if on_stop is not None:
            threading.Thread(target=on_stop, daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
