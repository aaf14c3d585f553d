"""A coordinator killed in the middle of an HTTPS call comes back (supervised), and the call's
hold is settled exactly once: the executor reports the result to the restarted coordinator,
and its sweeper charges the call nobody came back for."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from devstack.supervise import Supervisor
from devtools.ports import free_port
from outlayer.v1 import public_pb2, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.billing import HoldSweeper
from services.coordinator.database import make_engine
from services.coordinator.models import Call, Job, PaymentKey
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.conftest import wat_guest

NEAR = 10**24
LEASE_S = 2.0


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _until(condition: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout_s:g} s"
        time.sleep(0.1)


@dataclass
class World:
    supervisor: Supervisor
    said: list[str]
    engine: Engine
    public: public_pb2_grpc.PublicServiceStub
    secret: str


def _world(tmp_path: Path, executor: Executor, stop: threading.Event) -> World:
    """A supervised coordinator process (SQLite), an executor's runner, a project whose guest
    sleeps, and a payment key."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'coordinator.db'}"
    env = {
        **os.environ,
        "OUTLAYER_DATABASE_URL": url,
        "OUTLAYER_TLS__ENABLED": "false",
        "OUTLAYER_COORDINATOR__LISTEN": f"127.0.0.1:{port}",
        "OUTLAYER_COORDINATOR__ADMIN_LISTEN": "127.0.0.1:0",
        "OUTLAYER_COORDINATOR__ADMIN_TOKEN": "admin-secret",
        "OUTLAYER_COORDINATOR__LEASE_SECONDS": str(LEASE_S),
        "OUTLAYER_COORDINATOR__WASM_STORE_DIR": str(tmp_path / "wasm"),
    }
    log = (tmp_path / "coordinator.log").open("wb")
    said: list[str] = []
    supervisor = Supervisor(said.append)
    supervisor.add("coordinator", lambda: subprocess.Popen(
        [sys.executable, "-m", "cli.main", "coordinator", "serve"],
        env=env, stderr=log))  # fmt: skip
    _until(lambda: _listening(port), "the coordinator's start")
    engine = make_engine(url)
    store = WasmStore(tmp_path / "wasm")
    digest = store.put(wat_guest("sleep_in_host_call"))
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True).start()
    public = public_pb2_grpc.PublicServiceStub(channel)
    admin = (("x-admin-token", "admin-secret"),)
    public.CreateProject(
        public_pb2.CreateProjectRequest(owner="dev.near", name="nap", wasm_sha256=digest),
        metadata=admin,
    )
    key = public.CreatePaymentKey(
        public_pb2.CreatePaymentKeyRequest(owner="alice.near", balance=str(10 * NEAR)),
        metadata=admin,
    )
    return World(supervisor, said, engine, public, key.secret)


def test_a_call_whose_coordinator_died_is_settled_once(tmp_path: Path, executor: Executor) -> None:
    stop = threading.Event()
    world = _world(tmp_path, executor, stop)
    supervisor, said, engine, public = world.supervisor, world.said, world.engine, world.public
    coordinator = supervisor.services["coordinator"].process
    try:
        paying = (("x-payment-key", world.secret),)
        answers: list[object] = []

        def call() -> None:
            request = public_pb2.CallRequest(owner="dev.near", project="nap", input="\x1e",
                                             wait_seconds=30)  # the guest sleeps 3 s  # fmt: skip
            try:
                answers.append(public.Call(request, metadata=paying))
            except grpc.RpcError as exc:
                answers.append(exc.code())

        caller = threading.Thread(target=call)
        caller.start()

        def leased() -> bool:
            with Session(engine) as session:
                return any(job.status == "leased" for job in session.exec(select(Job)).all())

        _until(leased, "the job's lease")
        os.kill(coordinator.pid, signal.SIGKILL)  # mid-call: the guest is still asleep
        caller.join(timeout=60)
        assert answers == [grpc.StatusCode.UNAVAILABLE]

        def back() -> bool:
            supervisor.check()
            return any(line.startswith("coordinator restarted") for line in said)

        _until(back, "the coordinator's restart")
        assert said[0].startswith("coordinator exited with code -9; restarting it in ")

        def charged() -> str | None:
            with Session(engine) as session:
                return session.exec(select(Call)).one().charged

        _until(lambda: charged() is not None, "the sweep of the call's hold")
        with Session(engine) as session:
            job = session.exec(select(Job)).one()
            paid = session.exec(select(PaymentKey)).one()
        assert job.status == "done" and job.attempts == 1  # it ran once: the result was kept
        amount = int(charged() or 0)
        assert amount > 0
        assert (int(paid.balance), int(paid.held)) == (10 * NEAR - amount, 0)

        # Reading the call later gives the same answer and charges nothing more.
        call_id = session_call_id(engine)
        again = public.GetCall(public_pb2.GetCallRequest(call_id=call_id), metadata=paying)
        assert again.status == "done" and int(again.charged) == amount
        with Session(engine) as session:
            assert int(session.exec(select(PaymentKey)).one().balance) == 10 * NEAR - amount
    finally:
        stop.set()
        for service in supervisor.services.values():
            service.process.kill()
            service.process.wait()


def session_call_id(engine: object) -> str:
    with Session(engine) as session:  # type: ignore[arg-type]
        return session.exec(select(Call)).one().call_id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_call_that_never_got_a_job_is_released_after_the_longest_wait(engine: object) -> None:
    from datetime import timedelta

    from services.coordinator.billing import CALL_MAX_WAIT_S, Billing
    from services.coordinator.queue import JobQueue, utcnow
    from tests.coordinator.test_billing import PRICING

    queue = JobQueue(engine, lease_seconds=LEASE_S)  # type: ignore[arg-type]
    billing = Billing(engine, queue, PRICING)  # type: ignore[arg-type]
    key, _ = billing.create_key("alice.near", 10 * NEAR)
    sweeper = HoldSweeper(billing, lease_seconds=LEASE_S, interval_s=1)
    for call_id, age in (("old", CALL_MAX_WAIT_S + LEASE_S + 5), ("young", 1.0)):
        billing.hold(key.key_id, Call(
            call_id=call_id, key_id=key.key_id, owner="dev.near", project="p", job_id=0,
            hold=str(NEAR), max_cost=str(NEAR), attached_deposit="0",
            created_at=utcnow() - timedelta(seconds=age)))  # fmt: skip
    assert sweeper.sweep_once() == 1  # the young one may still be getting its job
    assert sweeper.sweep_once() == 0  # once
    with Session(engine) as session:  # type: ignore[arg-type]
        paid = session.exec(select(PaymentKey)).one()
        calls = {c.call_id: c.charged for c in session.exec(select(Call)).all()}
    assert calls == {"old": "0", "young": None}
    assert (int(paid.balance), int(paid.held)) == (10 * NEAR, NEAR)
