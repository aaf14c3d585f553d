"""Wake-ups for the job queue: "a job was queued" (long-polling leases) and "job N finished"
(waiting callers), inside one process or across coordinator replicas sharing one PostgreSQL.

:class:`JobEvents` wakes waiters in this process only (SQLite: one coordinator).
:class:`PgJobEvents` also tells every other replica, through PostgreSQL ``LISTEN/NOTIFY`` on
one channel: a sender thread batches what happened since its last send into one
``pg_notify`` round trip (``q`` for queued, ``d:<id>,<id>...`` for finished), after the
change committed; a listener thread (its own connection) wakes this process's waiters for
what other replicas sent. Notifications are a fast path, never the only one: a waiter still
looks at the database at its own poll interval, so a lost connection (every waiter is woken
when the listener reconnects) or a replica that died between commit and send costs latency,
not correctness.

Waiting without missing a wake-up: take :meth:`JobEvents.queued_mark` (or enter
:meth:`JobEvents.watch_done`) *before* looking at the database, then wait on it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from services.coordinator.database import ASYNC_COMMIT, with_settings

CHANNEL = "outlayer_jobs"
PAYLOAD_MAX = 7000  # PostgreSQL refuses payloads of 8000 bytes or more
LISTEN_READY_S = 5.0  # how long a first waiter waits for the listener to be listening
RECONNECT_S = (0.2, 0.5, 1.0, 2.0, 5.0)
FLUSH_S = 2.0  # how long closing waits for the last notifications to go out

_log = logging.getLogger(__name__)


class _Wakeups:
    """This process's waiters: a counter for "something was queued", an event per watched job,
    and listeners told every finished job id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queued_seq = 0
        self._watchers: dict[int, list[threading.Event]] = {}
        self._listeners: list[Callable[[int], None]] = []

    def queued(self) -> None:
        with self._queued:
            self._queued_seq += 1
            self._queued.notify_all()

    def done(self, job_ids: list[int]) -> None:
        with self._lock:
            for job_id in job_ids:
                for event in self._watchers.get(job_id, ()):
                    event.set()
            listeners = list(self._listeners)
        for listener in listeners:
            for job_id in job_ids:
                try:
                    listener(job_id)
                except Exception:  # one listener's bug must not stop the others being told
                    _log.exception("a listener of finished jobs failed")

    def everything(self) -> None:
        """Wake every waiter (they look at the database): notifications may have been lost."""
        with self._queued:
            self._queued_seq += 1
            self._queued.notify_all()
            for events in self._watchers.values():
                for event in events:
                    event.set()

    def mark(self) -> int:
        with self._lock:
            return self._queued_seq

    def wait_queued(self, mark: int, timeout_s: float) -> bool:
        with self._queued:
            return self._queued.wait_for(lambda: self._queued_seq != mark, timeout_s)

    @contextmanager
    def watch(self, job_id: int) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._watchers.setdefault(job_id, []).append(event)
        try:
            yield event
        finally:
            with self._lock:
                events = self._watchers.get(job_id, [])
                events.remove(event)
                if not events:
                    self._watchers.pop(job_id, None)

    def listen(self, listener: Callable[[int], None]) -> None:
        with self._lock:
            self._listeners.append(listener)


class JobEvents:
    """Wake-ups within this process only."""

    def __init__(self) -> None:
        self._wakeups = _Wakeups()

    def notify_queued(self) -> None:
        """A job became leasable (queued, re-queued, or its build finished); after commit."""
        self._wakeups.queued()

    def notify_done(self, job_id: int) -> None:
        """A job finished (done or failed); after commit."""
        self._wakeups.done([job_id])

    def queued_mark(self) -> int:
        """Take before looking for a job; :meth:`wait_queued` returns once one was queued since."""
        self._ready()
        return self._wakeups.mark()

    def wait_queued(self, mark: int, timeout_s: float) -> bool:
        """True when a job was queued since ``mark`` (maybe by another replica); False when
        ``timeout_s`` passed first."""
        return self._wakeups.wait_queued(mark, timeout_s)

    @contextmanager
    def watch_done(self, job_id: int) -> Iterator[threading.Event]:
        """An event set when ``job_id`` finishes while the block runs (enter it before looking)."""
        self._ready()
        with self._wakeups.watch(job_id) as event:
            yield event

    def wait_done(self, job_id: int, timeout_s: float) -> bool:
        """Waits for a notification that ``job_id`` finished (one from before the call is not
        seen: use :meth:`watch_done` around a look at the database to miss none)."""
        with self.watch_done(job_id) as event:
            return event.wait(timeout_s)

    def on_done(self, listener: Callable[[int], None]) -> None:
        """Calls ``listener(job_id)`` for every job that finishes (here, or on another replica)."""
        self._ready()
        self._wakeups.listen(listener)

    def close(self) -> None:
        """Stops whatever runs in the background (nothing, in process)."""

    def _ready(self) -> None:
        """Makes sure wake-ups from other replicas arrive (nothing to do in process)."""


class PgJobEvents(JobEvents):
    """Wake-ups across every replica on one PostgreSQL database (``url``: a libpq URL)."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self._link = _PgLink(url, channel, self._wakeups)
        # The threads hold the link, not this object: a forgotten queue stops its threads.
        weakref.finalize(self, self._link.stop)

    def notify_queued(self) -> None:
        super().notify_queued()
        self._link.send(queued=True)

    def notify_done(self, job_id: int) -> None:
        super().notify_done(job_id)
        self._link.send(done=job_id)

    def close(self) -> None:
        self._link.stop(flush_s=FLUSH_S)

    def _ready(self) -> None:
        self._link.start_listening()


class _PgLink:
    def __init__(self, url: str, channel: str, wakeups: _Wakeups) -> None:
        self._url = url
        self._channel = channel
        self._wakeups = wakeups
        self._lock = threading.Lock()
        self._pending = threading.Condition(self._lock)
        self._queued = False
        self._done: list[int] = []
        self._sender: threading.Thread | None = None
        self._sender_pid = 0  # our own notifications come back to our listener: skipped
        self._listener: threading.Thread | None = None
        self._listening = threading.Event()
        self._stopped = threading.Event()

    # --- sending -------------------------------------------------------------------------------
    def send(self, *, queued: bool = False, done: int | None = None) -> None:
        with self._pending:
            if self._stopped.is_set():
                return
            self._queued = self._queued or queued
            if done is not None:
                self._done.append(done)
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_loop, name="job-events-send", daemon=True
                )
                self._sender.start()
            self._pending.notify()

    def _take(self) -> list[str] | None:
        """What to send now (payloads), waiting for something; None once stopped."""
        with self._pending:
            while not (self._queued or self._done):
                if self._stopped.is_set():
                    return None
                self._pending.wait(1.0)
            payloads = ["q"] if self._queued else []
            chunk: list[str] = []
            size = 2
            for job_id in dict.fromkeys(self._done):  # each id once, in order
                text = str(job_id)
                if chunk and size + len(text) + 1 > PAYLOAD_MAX:
                    payloads.append("d:" + ",".join(chunk))
                    chunk, size = [], 2
                chunk.append(text)
                size += len(text) + 1
            if chunk:
                payloads.append("d:" + ",".join(chunk))
            self._queued = False
            self._done = []
            return payloads

    def _send_loop(self) -> None:
        connection: psycopg.Connection | None = None
        failures = 0
        while (payloads := self._take()) is not None:
            try:
                if connection is None or connection.closed:
                    # A notification is a hint, never a record: no need to wait for the disk.
                    connection = psycopg.connect(
                        with_settings(self._url, ASYNC_COMMIT), autocommit=True
                    )
                    self._sender_pid = connection.info.backend_pid
                connection.execute(
                    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                    (self._channel, payloads),
                )
                failures = 0
            except psycopg.Error as exc:
                # Lost: other replicas' waiters find out at their next look at the database.
                failures += 1
                _log.warning("job notifications not sent (%s); retrying", exc)
                if connection is not None:
                    connection.close()
                connection = None
                if _gone(exc):
                    self._stopped.set()  # nothing to tell, nobody to listen to
                    break
                self._stopped.wait(RECONNECT_S[min(failures, len(RECONNECT_S)) - 1])
        if connection is not None:
            connection.close()

    # --- listening -----------------------------------------------------------------------------
    def start_listening(self) -> None:
        with self._lock:
            if self._listener is None and not self._stopped.is_set():
                self._listener = threading.Thread(
                    target=self._listen_loop, name="job-events-listen", daemon=True
                )
                self._listener.start()
        # The first waiters wait until LISTEN is in effect, so they miss nothing; should the
        # database not answer, the first attempt's end lets them go on with polling.
        self._listening.wait(LISTEN_READY_S)

    def _listen_loop(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f'LISTEN "{self._channel}"')
                    if failures:
                        self._wakeups.everything()  # what was sent while we were away
                    failures = 0
                    self._listening.set()
                    while not self._stopped.is_set():
                        for note in connection.notifies(timeout=1.0):
                            if note.pid != self._sender_pid:
                                self._deliver(note.payload)
            except psycopg.Error as exc:
                failures += 1
                self._listening.set()  # nobody waits for it any longer: they poll meanwhile
                self._wakeups.everything()
                if self._stopped.is_set():
                    break
                if _gone(exc):
                    _log.info("job notifications stop: %s", exc)
                    break
                _log.warning("job notifications: listener lost its connection (%s)", exc)
                self._stopped.wait(RECONNECT_S[min(failures, len(RECONNECT_S)) - 1])
        self._listening.set()  # nobody waits for a listener that is gone

    def _deliver(self, payload: str) -> None:
        if payload == "q":
            self._wakeups.queued()
        elif payload.startswith("d:"):
            ids = [int(text) for text in payload[2:].split(",") if text.isdigit()]
            if ids:
                self._wakeups.done(ids)

    def stop(self, flush_s: float = 0.0) -> None:
        """Stops both threads; the sender first sends what is pending (waited for up to
        ``flush_s``: a process that exits right after its last change still tells the rest)."""
        self._stopped.set()
        with self._pending:
            self._pending.notify_all()
            sender = self._sender
        if flush_s and sender is not None and sender is not threading.current_thread():
            sender.join(flush_s)


def _gone(exc: psycopg.Error) -> bool:
    """The database itself is gone (dropped, say, after a test): no point reconnecting."""
    return getattr(exc, "sqlstate", None) == "3D000" or "does not exist" in str(exc)
