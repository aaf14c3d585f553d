"""The whole platform on this machine for the capability tests: localnet with the OutLayer
contract, a compiler serving given modules, a keystore, a coordinator over mTLS, an executor
runner with the guests' capabilities, the indexer, and a real HTTPS oracle on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from devstack.demo import account, provision
from outlayer.attested import attested_keystore
from outlayer.config import Settings
from outlayer.grpcclient import open_channel
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import ensure_dev_pki
from outlayer.v1 import coordinator_pb2_grpc, keystore_pb2_grpc, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.capabilities.for_jobs import JobCapabilities
from services.executor.runner import JobRunner
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from services.keystore import server as keystore_server
from tests.capabilities.https_server import Server, https_server
from tests.compiler_fixture import running_compiler
from tests.localnet_server import running_localnet

ADMIN_TOKEN = "admin-token"


@dataclass(frozen=True)
class Chain0:
    """What the modules may be made for: known once localnet runs."""

    contract: str
    alice: str
    oracle: Server


Modules = Callable[[Chain0], dict[tuple[str, str], bytes]]  # (repo, commit) -> wasm


@dataclass
class Platform:
    rpc: NearRpc
    root: Signer
    contract: str
    alice: Signer
    bob: Signer
    indexer: Indexer
    runner: JobRunner
    public: public_pb2_grpc.PublicServiceStub
    keystore: keystore_pb2_grpc.KeystoreServiceStub
    engine: Engine
    keys: Path

    def work(self) -> None:
        """The indexer sees what was requested, the executor runs it, the indexer resolves."""
        self.indexer.follow_once()
        while self.runner.run_once() is not None:
            pass
        self.indexer.settle_once()


@contextmanager
def running_platform(
    tmp_path: Path, settings: Settings, executor: Executor, modules: Modules,
    *, storage_max_value_bytes: int = 100,
) -> Iterator[Platform]:  # fmt: skip
    stack = ExitStack()
    pki = tmp_path / "pki"
    ensure_dev_pki(pki)
    url, root = stack.enter_context(running_localnet(tmp_path))
    rpc = NearRpc(url)
    contract, worker = provision(rpc, root, tmp_path, log=lambda _: None)
    alice = account(rpc, root, "alice", tmp_path, log=lambda _: None)
    bob = account(rpc, root, "bob", tmp_path, log=lambda _: None)
    oracle = stack.enter_context(https_server(tmp_path / "oracle-pki"))
    served = modules(Chain0(contract.account_id, alice.account_id, oracle))
    mesh = settings.model_copy(update={
        "tls": settings.tls.model_copy(update={"enabled": True, "dir": pki})})  # fmt: skip
    compiler, _ = stack.enter_context(running_compiler(mesh, tmp_path, served))
    keystore_settings = settings.keystore.model_copy(update={
        "master_key_file": tmp_path / "master.key", "rpc_url": url,
        "contract_id": contract.account_id})  # fmt: skip
    keystore, keystore_port = keystore_server.build_server(
        mesh.model_copy(update={"keystore": keystore_settings}), "127.0.0.1:0"
    )
    keystore.start()
    keystore_target = f"127.0.0.1:{keystore_port}"
    configured = mesh.model_copy(update={
        "coordinator": settings.coordinator.model_copy(update={
            "compiler": compiler, "admin_token": ADMIN_TOKEN,
            "storage_max_value_bytes": storage_max_value_bytes}),
        "keystore": keystore_settings,
        "attestation": settings.attestation.model_copy(update={"accept_development": True}),
        "executor": settings.executor.model_copy(update={
            "keystore": keystore_target,
            # The oracle is on loopback: exempt from the private-address guard, as a
            # development setting.
            "guest": settings.executor.guest.model_copy(update={
                "chain_rpc": url, "fetch_allow_networks": ["127.0.0.0/8"],
                "fetch_ca_file": oracle.ca_file})}),
    })  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    migrate(engine)
    coordinator, port = build_server(configured, engine, "127.0.0.1:0")
    coordinator.start()
    target = f"127.0.0.1:{port}"
    executor_channel = open_channel(target, configured.tls, "executor", "coordinator")
    indexer_channel = open_channel(target, configured.tls, "indexer", "coordinator")
    edge_channel = open_channel(target, configured.tls, "edge", "coordinator")
    token = register_worker(engine, "w1")
    capabilities = JobCapabilities(configured, executor_channel, token)
    runner = JobRunner(executor, executor_channel, token, WasmStore(tmp_path / "wasm"),
                       capabilities=capabilities)  # fmt: skip
    indexer = Indexer(RequestFeed(rpc, contract.account_id),
                      coordinator_pb2_grpc.CoordinatorServiceStub(indexer_channel), rpc=rpc,
                      operator=worker, chain=Chain(contract.account_id, "localnet"),
                      cursor=Cursor(tmp_path / "cursor.json"), start_height=0)  # fmt: skip
    attested = stack.enter_context(attested_keystore(
        keystore_target, configured.tls, "operator", configured.attestation))  # fmt: skip
    try:
        yield Platform(rpc, root, contract.account_id, alice, bob, indexer, runner,
                       public_pb2_grpc.PublicServiceStub(edge_channel), attested.stub, engine,
                       tmp_path)  # fmt: skip
    finally:
        for channel in (edge_channel, executor_channel, indexer_channel):
            channel.close()
        keystore.stop(grace=None)
        coordinator.stop(grace=None)
        stack.close()
