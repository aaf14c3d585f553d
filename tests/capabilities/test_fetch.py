"""Outbound HTTPS for guests: allowed hosts over verified TLS, nothing private (after DNS, after
redirects, after a rebinding lookup), within the run's caps. Against a real HTTPS server on
loopback, which the guard refuses unless the test exempts loopback as a development setting."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outlayer.config import GuestCapabilitySettings, Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.result import ResponseFormat
from services.executor._guest_abi import HostStatus
from services.executor.capabilities.errors import HostCallError
from services.executor.capabilities.fetch import Fetcher
from services.executor.capabilities.local import local_services
from services.executor.executor import ExecutionJob, Executor
from tests.capabilities.abi_guest import AbiGuest, records
from tests.capabilities.https_server import Server, https_server

LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with https_server(tmp_path_factory.mktemp("oracle-pki")) as running:
        yield running


def caps(server: Server, **changes: Any) -> GuestCapabilitySettings:
    settings = {"fetch_allow_networks": LOOPBACK, "fetch_ca_file": server.ca_file, **changes}
    return GuestCapabilitySettings(**settings)


def request(url: str, method: str = "GET", **fields: Any) -> bytes:
    return json.dumps({"method": method, "url": url, **fields}).encode()


def fetch(fetcher: Fetcher, url: str, method: str = "GET", **fields: Any) -> dict[str, Any]:
    answer = fetcher.fetch(request(url, method, **fields), timeout=5, max_bytes=1 << 20)
    parsed: dict[str, Any] = json.loads(answer.data)
    return parsed


def refused(fetcher: Fetcher, url: str) -> OutlayerError:
    with pytest.raises(OutlayerError) as caught:
        fetch(fetcher, url)
    assert caught.value.code is ErrorCode.PERMISSION_DENIED, caught.value.message
    return caught.value


def test_an_allowed_host_answers_over_verified_tls(server: Server) -> None:
    fetcher = Fetcher(["localhost"], caps(server))
    answer = fetch(fetcher, server.url("/price"))
    assert answer["status"] == 200
    assert json.loads(base64.b64decode(answer["body"])) == {"pair": "NEAR-USD", "price": "3.14"}
    echoed = fetch(fetcher, server.url("/echo"), "POST", body=base64.b64encode(b"hi").decode(),
                   headers={"X-Mine": "1", "Host": "evil.example",
                            "Transfer-Encoding": "x"})  # fmt: skip
    seen = json.loads(base64.b64decode(echoed["body"]))
    assert seen["method"] == "POST" and seen["body"] == "hi"
    assert seen["headers"]["x-mine"] == "1"
    assert seen["headers"]["host"] == f"localhost:{server.port}"  # the platform's, not the guest's
    assert seen["headers"]["user-agent"].startswith("OutLayer-guest")


def test_private_addresses_are_refused_by_default(server: Server) -> None:
    fetcher = Fetcher(["localhost", "*.outlayer.internal"],
                      GuestCapabilitySettings(fetch_ca_file=server.ca_file))  # fmt: skip
    before = len(server.requests)
    error = refused(fetcher, server.url("/price"))
    assert "127.0.0.1" in error.message and "public" in error.message
    assert len(server.requests) == before  # refused before connecting


PRIVATE = ["10.0.0.7", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1",
           "::ffff:127.0.0.1", "fe80::1", "0.0.0.0", "224.0.0.1"]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE)
def test_every_private_range_is_refused_after_resolution(address: str) -> None:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, 1, 6, "", (address, port))]

    fetcher = Fetcher(["api.example.com"], GuestCapabilitySettings(), resolver=resolve)
    assert "public" in refused(fetcher, "https://api.example.com/").message


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, 1, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, 1, 6, "", ("127.0.0.1", port))]  # fmt: skip

    fetcher = Fetcher(["api.example.com"], GuestCapabilitySettings(), resolver=resolve)
    assert "127.0.0.1" in refused(fetcher, "https://api.example.com/").message


def test_dns_rebinding_cannot_move_the_connection(server: Server) -> None:
    """The name is resolved once per hop, and the connection goes to that checked address: a
    resolver that would answer 169.254.169.254 the second time is never asked again."""
    answers = iter(["127.0.0.1", "169.254.169.254", "169.254.169.254"])
    asked: list[str] = []

    def rebinding(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [(socket.AF_INET, 1, 6, "", (next(answers), port))]

    fetcher = Fetcher(["oracle.outlayer.internal"], caps(server), resolver=rebinding)
    answer = fetch(fetcher, server.url("/price", host="oracle.outlayer.internal"))
    assert answer["status"] == 200 and asked == ["oracle.outlayer.internal"]

    # Without the development exemption, the same first answer is refused.
    def loopback(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, 1, 6, "", ("127.0.0.1", port))]

    strict_caps = GuestCapabilitySettings(fetch_ca_file=server.ca_file)
    strict = Fetcher(["oracle.outlayer.internal"], strict_caps, resolver=loopback)
    refused(strict, server.url("/price", host="oracle.outlayer.internal"))


def test_redirects_are_checked_hop_by_hop(server: Server) -> None:
    fetcher = Fetcher(["localhost"], caps(server))
    hop = server.url("/redirect?to=" + server.url("/price"))
    assert fetch(fetcher, hop)["status"] == 200  # to an allowed host: followed
    # To a host off the list (the same server by its IP): refused.
    off_list = server.url("/redirect?to=" + server.url("/price", host="127.0.0.1"))
    assert "not among the hosts" in refused(fetcher, off_list).message
    # To plain http: refused.
    assert "only https" in refused(fetcher, server.url("/redirect?to=http://localhost/")).message

    # To an allowed name that resolves to a private address: refused.
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        address = "127.0.0.1" if host == "localhost" else "10.1.2.3"
        return [(socket.AF_INET, 1, 6, "", (address, port))]

    mixed = Fetcher(["localhost", "inside.example.com"], caps(server), resolver=resolve)
    inward = server.url("/redirect?to=https://inside.example.com/metadata")
    assert "10.1.2.3" in refused(mixed, inward).message
    # Too many hops.
    loop = server.url("/redirect?to=" + server.url("/redirect?to=" + server.url(
        "/redirect?to=" + server.url("/redirect?to=" + server.url("/price")))))  # fmt: skip
    assert "redirects" in refused(fetcher, loop).message


def test_tls_is_verified(server: Server) -> None:
    fetcher = Fetcher(["localhost"], GuestCapabilitySettings(fetch_allow_networks=LOOPBACK))
    assert "TLS" in refused(fetcher, server.url("/price")).message  # not a CA certifi knows


def test_hosts_off_the_list_and_bad_requests(server: Server) -> None:
    fetcher = Fetcher(["api.example.com", "*.prices.example"], caps(server))
    assert "not among the hosts" in refused(fetcher, server.url("/price")).message
    assert "not among" in refused(fetcher, "https://prices.example.evil.com/").message
    for bad in (b"not json", b"[]", json.dumps({"url": 3}).encode(),
                request("https://api.example.com/", "TRACE"),
                request("https://api.example.com/", headers={"a": "b\r\nc: d"}),
                request("https://api.example.com/", body="***"),
                request("https://user:pw@api.example.com/")):  # fmt: skip
        with pytest.raises(OutlayerError) as caught:
            fetcher.fetch(bad, timeout=5, max_bytes=1000)
        assert caught.value.code is ErrorCode.INVALID_ARGUMENT, bad


def test_byte_cap_and_timeout(server: Server) -> None:
    fetcher = Fetcher(["localhost"], caps(server, fetch_timeout_seconds=0.5))
    with pytest.raises(HostCallError) as caught:
        fetcher.fetch(request(server.url("/big?bytes=5000")), timeout=5, max_bytes=4000)
    assert caught.value.status is HostStatus.LIMIT
    with pytest.raises(OutlayerError) as late:
        fetcher.fetch(request(server.url("/slow?seconds=2")), timeout=5, max_bytes=1000)
    assert late.value.code is ErrorCode.UNAVAILABLE and "in time" in late.value.message


def test_a_guest_fetches_what_its_module_declares(
    server: Server, settings: Settings, tmp_path: Path
) -> None:
    guest_caps = caps(server, fetch_max_requests=2)
    configured = settings.model_copy(update={"executor": settings.executor.model_copy(
        update={"guest": guest_caps})})  # fmt: skip
    price = request(server.url("/price"))
    guest = (
        AbiGuest(fetch_hosts="localhost\n")
        .call("fetch", price)
        .call("fetch", b"{}")
        .call("fetch", request(server.url("/redirect?to=https://127.0.0.1/")))
        .call("fetch", price)
    )
    wasm = guest.wasm()
    services = local_services(configured, wasm, data_dir=tmp_path, store="module:t", caller="",
                              origin_key="local:t")  # fmt: skip
    with Executor(configured, prestart=False) as executor:
        result = executor.execute(ExecutionJob(wasm=wasm, services=services,
                                               response_format=ResponseFormat.BYTES))  # fmt: skip
    got = records(result.output)
    first = json.loads(got[0].answer)
    assert got[0].status == len(got[0].answer) and first["status"] == 200
    assert json.loads(base64.b64decode(first["body"]))["price"] == "3.14"
    assert got[1].status == HostStatus.INVALID
    assert got[2].status == HostStatus.LIMIT  # its 3rd request: over fetch_max_requests
    assert got[3].status == HostStatus.LIMIT
    used = result.resources_used.capabilities
    assert used["fetch_requests"] == 4 and used["fetch_bytes"] > 0


def test_a_module_without_hosts_or_with_a_bad_section_cannot_fetch(
    server: Server, settings: Settings, tmp_path: Path
) -> None:
    for hosts, why in ((None, b"declare the hosts"), ("bad host!", b"malformed"),
                       ('["ok.example", 3, "x y"]', b"malformed")):  # fmt: skip
        guest = AbiGuest(fetch_hosts=hosts).call("fetch", request(server.url("/price")))
        wasm = guest.wasm()
        services = local_services(settings, wasm, data_dir=tmp_path, store="module:t",
                                  caller="", origin_key="local:t")  # fmt: skip
        job = ExecutionJob(wasm=wasm, services=services, response_format=ResponseFormat.BYTES)
        with Executor(settings, isolated=False, prestart=False) as executor:
            result = executor.execute(job)
        (got,) = records(result.output)
        assert got.status == HostStatus.NOT_ENABLED and why in got.answer, got
