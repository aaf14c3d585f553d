"""Secrets end to end, over mTLS and the attested channel: a request on localnet names stored
secrets → indexer → coordinator (grant) → executor → keystore → the guest sees exactly the
decrypted variables plus the platform's. A requester failing the access condition gets a clear
error and the guest never runs. A planted secret appears in no log, trace, hidden log, result or
error, nor in the coordinator's database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine, text

from devstack.demo import account, provision, send_request, wait_final
from outlayer.config import AttestationSettings, Settings
from outlayer.grpcclient import open_channel
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, TxOutcome
from outlayer.platform_env import RESERVED
from outlayer.result import ExecutionResult
from outlayer.tls import ensure_dev_pki
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2, public_pb2, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from services.executor.secrets import KeystoreSecrets
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from services.keystore import server as keystore_server
from services.keystore.keys import development_master, encrypt_secrets, repo_private_key
from tests.compiler_fixture import running_compiler
from tests.conftest import built_guest
from tests.localnet_server import running_localnet

REPO = "https://github.com/alice/reporter"
COMMIT = "3" * 40
SECRET = "planted-secret-5b9e0d"
ADMIN_TOKEN = "admin-token"
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10}


def spans_exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def fnv1a(value: str) -> str:
    digest = 0xCBF29CE484222325
    for byte in value.encode():
        digest = ((digest ^ byte) * 0x100000001B3) % 2**64
    return f"{digest:016x}"


@dataclass
class World:
    rpc: NearRpc
    contract: str
    alice: Signer
    bob: Signer
    indexer: Indexer
    runner: JobRunner
    stub: coordinator_pb2_grpc.CoordinatorServiceStub
    public: public_pb2_grpc.PublicServiceStub
    engine: Engine
    database: Path
    spans: InMemorySpanExporter

    def request(self, user: Signer, secrets_ref: dict[str, str]) -> TxOutcome:
        sent = send_request(self.rpc, user, self.contract, code_source={"repo": REPO,
                            "commit": COMMIT}, input_data="", limits=LIMITS,
                            secrets_ref=secrets_ref)  # fmt: skip
        self.indexer.follow_once()
        while self.runner.run_once() is not None:
            pass
        self.indexer.settle_once()
        return wait_final(self.rpc, sent.tx_hash, user.account_id)


@pytest.fixture
def world(tmp_path: Path, settings: Settings, executor: Executor) -> Iterator[World]:
    spans = spans_exporter()
    stack = ExitStack()
    pki = tmp_path / "pki"
    ensure_dev_pki(pki)
    url, root = stack.enter_context(running_localnet(tmp_path))
    rpc = NearRpc(url)
    contract, worker = provision(rpc, root, tmp_path, log=lambda _: None)
    alice = account(rpc, root, "alice", tmp_path, log=lambda _: None)
    bob = account(rpc, root, "bob", tmp_path, log=lambda _: None)

    wasm = WasmStore(tmp_path / "wasm")
    mesh = settings.model_copy(update={
        "tls": settings.tls.model_copy(update={"enabled": True, "dir": pki})})  # fmt: skip
    compiler, _ = stack.enter_context(
        running_compiler(mesh, tmp_path, {(REPO, COMMIT): built_guest("env_report")})
    )
    configured = settings.model_copy(update={
        "save_system_hidden_logs_to_debug": True,
        "tls": settings.tls.model_copy(update={"enabled": True, "dir": pki}),
        "coordinator": settings.coordinator.model_copy(update={"compiler": compiler,
                                                               "admin_token": ADMIN_TOKEN}),
        "keystore": settings.keystore.model_copy(update={
            "master_key_file": tmp_path / "master.key", "rpc_url": url,
            "contract_id": contract.account_id}),
    })  # fmt: skip
    database = tmp_path / "coordinator.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    coordinator, port = build_server(configured, engine, "127.0.0.1:0")
    coordinator.start()
    keystore, keystore_port = keystore_server.build_server(configured, "127.0.0.1:0")
    keystore.start()
    target = f"127.0.0.1:{port}"
    executor_channel = open_channel(target, configured.tls, "executor", "coordinator")
    indexer_channel = open_channel(target, configured.tls, "indexer", "coordinator")
    edge_channel = open_channel(target, configured.tls, "edge", "coordinator")
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(indexer_channel)
    secrets = KeystoreSecrets(f"127.0.0.1:{keystore_port}", configured.tls,
                              AttestationSettings(accept_development=True))  # fmt: skip
    runner = JobRunner(
        executor, executor_channel, register_worker(engine, "w1"), wasm, secrets=secrets
    )
    indexer = Indexer(RequestFeed(rpc, contract.account_id), stub, rpc=rpc, operator=worker,
                      chain=Chain(contract.account_id, "localnet"),
                      cursor=Cursor(tmp_path / "cursor.json"), start_height=0)  # fmt: skip

    public = bytes(repo_private_key(development_master(tmp_path / "master.key"), REPO).public_key)
    stored = rpc.function_call(alice, contract.account_id, "store_secrets", {
        "repo": REPO, "profile": "prod",
        "encrypted_secrets_base64": encrypt_secrets(public, {"API_KEY": SECRET}),
        "access": {"Whitelist": {"accounts": [alice.account_id]}},
    }, deposit=10**23)  # fmt: skip
    assert stored.failure is None, stored.failure
    yield World(rpc, contract.account_id, alice, bob, indexer, runner, stub,
                public_pb2_grpc.PublicServiceStub(edge_channel), engine, database,
                spans)  # fmt: skip
    edge_channel.close()
    executor_channel.close()
    indexer_channel.close()
    keystore.stop(grace=None)
    coordinator.stop(grace=None)
    stack.close()


def test_secrets_reach_the_guest_and_nowhere_else(
    world: World, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    allowed = world.request(world.alice, {"profile": "prod"})
    result = allowed.value
    assert result["status"] == "success", result
    variables = result["output"]["variables"]
    assert variables["API_KEY"] == fnv1a(SECRET)  # the decrypted value, exactly
    assert variables["NEAR_SENDER_ID"] == fnv1a(world.alice.account_id)
    assert set(variables) - RESERVED == {"API_KEY"}  # nothing but the secrets and the platform's

    refused = world.request(world.bob, {"profile": "prod", "account_id": world.alice.account_id})
    outcome = refused.value
    assert outcome["status"] == "failed"
    assert outcome["error"]["type"] == "secrets_access_denied"
    assert world.bob.account_id in outcome["error"]["message"]
    assert "whitelist" in outcome["error"]["message"]
    assert outcome["resources_used"]["instructions"] == 0  # the guest never ran

    # Now look for the planted secret everywhere the platform writes.
    places: dict[str, str] = {
        "results on chain": json.dumps([allowed.raw, refused.raw]),
        "logs": caplog.text,
        "stdout and stderr": "".join(capfd.readouterr()),
        "traces": "".join(span.to_json() for span in world.spans.get_finished_spans()),
    }
    jobs = [world.stub.GetJob(pb.GetJobRequest(job_id=n)) for n in (1, 2)]
    places["job results"] = "".join(str(job) for job in jobs)
    with world.engine.connect() as connection:
        hidden = connection.execute(text("SELECT text FROM system_hidden_logs")).fetchall()
    places["hidden logs"] = "".join(row[0] for row in hidden)
    places["coordinator database"] = world.database.read_bytes().decode("latin-1")
    assert places["traces"] and places["logs"]  # the search is over something
    leaked = [where for where, content in places.items() if SECRET in content]
    assert leaked == []
    assert [job.status for job in jobs] == ["done", "done"]


def test_https_calls_get_the_project_owners_secrets_for_allowed_callers(world: World) -> None:
    admin = (("x-admin-token", ADMIN_TOKEN),)
    owner = world.alice.account_id  # the project's developer stored the secrets
    source = public_pb2.ProjectSource(repo=REPO, commit=COMMIT)
    world.public.CreateProject(
        public_pb2.CreateProjectRequest(owner=owner, name="reporter", code_source=source),
        metadata=admin,
    )

    allowed_call_id: list[str] = []

    def call(payer: str) -> public_pb2.CallResponse:
        key = world.public.CreatePaymentKey(
            public_pb2.CreatePaymentKeyRequest(owner=payer, balance=str(10**24)),
            metadata=admin,
        )
        pending = world.public.Call(public_pb2.CallRequest(
            owner=owner, project="reporter", secrets_profile="prod", wait_seconds=0.01,
            response_format=execution_pb2.RESPONSE_FORMAT_JSON,
        ), metadata=(("x-payment-key", key.secret),))  # fmt: skip
        while world.runner.run_once() is not None:
            pass
        allowed_call_id.append(pending.call_id)
        return world.public.GetCall(  # a call's result is read with the key that paid for it
            public_pb2.GetCallRequest(call_id=pending.call_id),
            metadata=(("x-payment-key", key.secret),),
        )

    allowed = ExecutionResult.from_proto(call(owner).result)  # alice is on her own whitelist
    assert allowed.ok and allowed.output["variables"]["API_KEY"] == fnv1a(SECRET)
    assert allowed.output["variables"]["OUTLAYER_EXECUTION_TYPE"] == fnv1a("HTTPS")
    # Over HTTPS the caller is the paying key's owner, as on chain it is the signer.
    assert allowed.output["variables"]["NEAR_SENDER_ID"] == fnv1a(owner)
    assert allowed.output["variables"]["OUTLAYER_CALL_ID"] == fnv1a(allowed_call_id[0])
    refused = ExecutionResult.from_proto(call(world.bob.account_id).result)
    assert refused.error is not None
    assert refused.error.type.value == "secrets_access_denied"
    assert world.bob.account_id in refused.error.message
