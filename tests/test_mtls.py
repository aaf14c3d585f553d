"""mTLS on the executor's gRPC port: its own CA's peers get in; strangers are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from outlayer.config import Settings
from outlayer.errors import OutlayerError
from outlayer.grpcserver import create_server
from outlayer.tls import Identity, ensure_dev_pki, identity_in
from services.executor import Executor
from services.executor.service import build_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    ensure_dev_pki(directory, ("executor", "coordinator"))
    return directory


@pytest.fixture(scope="module")
def port(pki: Path, settings: Settings, executor: Executor) -> Iterator[int]:
    tls_settings = settings.model_copy(
        update={"tls": settings.tls.model_copy(update={"dir": pki, "enabled": True})}
    )
    server, bound = build_server(tls_settings, executor, "127.0.0.1:0")
    server.start()
    yield bound
    server.stop(grace=None)


def check(port: int, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    options = [("grpc.ssl_target_name_override", "executor.outlayer.internal")]
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def test_a_service_of_the_same_ca_is_let_in(port: int, pki: Path) -> None:
    assert check(port, identity_in(pki, "coordinator").channel_credentials()) == grpc.StatusCode.OK


def test_a_client_without_a_certificate_is_refused(port: int, pki: Path) -> None:
    anonymous = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    assert check(port, anonymous) == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_from_a_foreign_ca_is_refused(port: int, pki: Path, tmp_path: Path) -> None:
    ensure_dev_pki(tmp_path, ("coordinator",))  # another CA, same service name
    foreign = identity_in(tmp_path, "coordinator")
    trusting_ours = Identity(pki / "ca.pem", foreign.cert_file, foreign.key_file)
    assert check(port, trusting_ours.channel_credentials()) == grpc.StatusCode.UNAVAILABLE


def test_a_client_that_does_not_trust_the_server_refuses_it(
    port: int, pki: Path, tmp_path: Path
) -> None:
    ensure_dev_pki(tmp_path, ("coordinator",))
    distrustful = Identity(tmp_path / "ca.pem", pki / "coordinator.pem", pki / "coordinator.key")
    assert check(port, distrustful.channel_credentials()) == grpc.StatusCode.UNAVAILABLE


def test_dev_pki_is_idempotent(pki: Path) -> None:
    before = (pki / "executor.pem").read_bytes()
    assert ensure_dev_pki(pki, ("executor", "coordinator")) == []
    assert (pki / "executor.pem").read_bytes() == before


def test_missing_certificates_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(OutlayerError, match="outlayer dev certs"):
        identity_in(tmp_path, "executor").server_credentials()


def test_plaintext_is_refused_off_loopback() -> None:
    with pytest.raises(OutlayerError, match="without mTLS"):
        create_server("0.0.0.0:0", [], 1, None)
