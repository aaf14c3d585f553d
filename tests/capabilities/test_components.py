"""WASI preview 2 components (issue #15): run under the same limits as core modules, with the
same error types, in a forked worker and in process; the leading platform's interfaces
(near:rpc/api, near:storage/api, near:vrf/api, near:payment/api) served through the same host
calls, against the local services ``outlayer run`` uses and a localnet."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasmtime.component import Component

from outlayer import vrf
from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType
from outlayer.limits import RequestedLimits
from outlayer.near.rpc import NearRpc
from outlayer.result import ExecutionResult
from services.compiler.failures import BuildFailure
from services.compiler.projects import detect
from services.executor._components import component_path, is_component
from services.executor._guest_abi import SIGNING_REFUSED
from services.executor._sandbox import ModuleCache, make_engine, preload
from services.executor.capabilities import GuestServices
from services.executor.capabilities.local import local_services
from services.executor.executor import ExecutionJob, Executor
from tests.capabilities.component_guest import (
    ECHO_STDIN,
    PRINT_ENVIRONMENT,
    SLEEP,
    SLEEP_IMPORTS,
    SLEEP_LOWERED,
    ComponentGuest,
)
from tests.capabilities.https_server import https_server
from tests.localnet_server import running_localnet

RPC, STORAGE = "near:rpc/api@0.1.0", "near:storage/api@0.1.0"
VRF, PAYMENT = "near:vrf/api@0.1.0", "near:payment/api@0.1.0"
LOOP = "(loop $forever (br $forever))"


@pytest.fixture(params=["isolated", "in-process"], scope="module")
def executor(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Executor]:
    with Executor(settings, isolated=request.param == "isolated", prestart=False) as made:
        yield made


def execute(
    executor: Executor,
    guest: ComponentGuest,
    *,
    services: GuestServices | None = None,
    limits: RequestedLimits | None = None,
    input: bytes = b"",
    env: dict[str, str] | None = None,
) -> ExecutionResult:
    job = ExecutionJob(wasm=guest.wasm(), input=input, env=env or {}, services=services,
                       limits=limits or RequestedLimits())  # fmt: skip
    return executor.execute(job)


def lines(result: ExecutionResult) -> list[str]:
    assert result.ok, result.to_json()
    assert isinstance(result.output, str)
    return result.output.split("\n")[:-1]


def local(settings: Settings, data_dir: Path, caller: str = "alice.near") -> GuestServices:
    return local_services(settings, b"", data_dir=data_dir, store="module:components",
                          caller=caller, origin_key="https:call-7")  # fmt: skip


def test_a_component_is_told_from_a_core_module_by_its_header() -> None:
    assert is_component(ComponentGuest().wasm())
    assert not is_component(b"\0asm\x01\0\0\0")


def test_prints_reads_stdin_and_its_variables(executor: Executor) -> None:
    guest = (ComponentGuest().print(b"hello").wat(ECHO_STDIN).wat(PRINT_ENVIRONMENT)
             .wat("(call $out (global.get $stderr) (i32.const {}) (i32.const {}))".format(
                 *ComponentGuest().text(b"x"))))  # fmt: skip
    result = execute(executor, guest, input=b"the input", env={"COLOUR": "blue"})
    got = lines(result)
    assert got[:2] == ["hello", "the input"]
    assert dict(zip(got[2::2], got[3::2], strict=True))["COLOUR"] == "blue"
    assert result.exit_code == 0 and result.resources_used.instructions > 0


def test_exit_codes_as_core_modules(executor: Executor) -> None:
    failed = execute(executor, ComponentGuest().wat("(call $exit (i32.const 1))"))
    assert failed.error is not None and failed.error.type == ExecutionErrorType.EXIT_CODE
    assert failed.exit_code == 1
    ok = execute(executor, ComponentGuest().wat("(call $exit (i32.const 0))"))
    assert ok.ok and ok.exit_code == 0


@pytest.mark.parametrize(
    ("body", "limits", "expected"),
    [
        (LOOP, RequestedLimits(max_instructions=1_000_000), ExecutionErrorType.INSTRUCTION_LIMIT),
        (LOOP, RequestedLimits(max_execution_seconds=1), ExecutionErrorType.TIMEOUT),
        ("(drop (memory.grow (i32.const 2000)))", RequestedLimits(max_memory_mb=16),
         ExecutionErrorType.MEMORY_LIMIT),
        ("(unreachable)", None, ExecutionErrorType.RUNTIME_ERROR),
        ("(loop $more (call $line (i32.const 0) (i32.const 4000)) (br $more))", None,
         ExecutionErrorType.OUTPUT_LIMIT),
    ],
)  # fmt: skip
def test_limits_and_failures_have_the_core_error_types(
    executor: Executor, body: str, limits: RequestedLimits | None, expected: ExecutionErrorType
) -> None:
    if expected == ExecutionErrorType.TIMEOUT:
        limits = RequestedLimits(max_execution_seconds=1, max_instructions=100_000_000_000)
    result = execute(executor, ComponentGuest().wat(body), limits=limits)
    assert result.error is not None and result.error.type == expected, result.to_json()


def test_memory_within_the_limit_is_fine(executor: Executor) -> None:
    guest = ComponentGuest().wat("(drop (memory.grow (i32.const 16)))").print(b"grown")
    assert lines(execute(executor, guest, limits=RequestedLimits(max_memory_mb=16))) == ["grown"]


def test_a_component_importing_sockets_is_refused(executor: Executor) -> None:
    guest = ComponentGuest(extra_imports='(import "wasi:sockets/tcp@0.2.0" (instance))')
    result = execute(executor, guest)
    assert result.error is not None and result.error.type == ExecutionErrorType.LINK_ERROR
    assert "wasi:sockets/tcp@0.2.0" in result.error.message
    assert "no network" in result.error.message
    foreign = execute(executor, ComponentGuest(extra_imports='(import "acme:x/y" (instance))'))
    assert foreign.error is not None and foreign.error.type == ExecutionErrorType.LINK_ERROR
    assert "acme:x/y" in foreign.error.message


def test_storage_interface(executor: Executor, settings: Settings, tmp_path: Path) -> None:
    writer = (ComponentGuest()
              .call(STORAGE, "set", "greeting", b"hello")
              .call(STORAGE, "set-worker", "greeting", b"shared")
              .call(STORAGE, "set", "", b"x"))  # fmt: skip
    got = lines(execute(executor, writer, services=local(settings, tmp_path)))
    assert got[:2] == ["", ""] and "1 to 512 bytes" in got[2]
    reader = (ComponentGuest()
              .call(STORAGE, "get", "greeting")
              .call(STORAGE, "get-worker", "greeting")
              .call(STORAGE, "get", "absent")
              .call(STORAGE, "has", "greeting")
              .call(STORAGE, "has", "absent")
              .call(STORAGE, "list-keys", "gr")
              .call(STORAGE, "delete", "greeting")
              .call(STORAGE, "delete", "greeting")
              .call(STORAGE, "get-by-version", "greeting", "ab" * 32)
              .call(STORAGE, "clear-all"))  # fmt: skip
    got = lines(execute(executor, reader, services=local(settings, tmp_path)))
    assert got[:6] == ["hello", "", "shared", "", "", ""]
    assert got[6:8] == ["1", "0"]
    assert json.loads(got[8]) == ["greeting"] and got[9] == ""
    assert got[10:12] == ["1", "0"]
    assert got[12] == "" and "versions share one store" in got[13]
    assert "not served" in got[14]
    # Another caller sees the project's shared value, not alice's own.
    other = ComponentGuest().call(STORAGE, "get-worker", "greeting")
    assert lines(execute(executor, other, services=local(settings, tmp_path, "bob.near"))) == [
        "shared", ""]  # fmt: skip


def test_storage_off_answers_why(executor: Executor) -> None:
    got = lines(execute(executor, ComponentGuest().call(STORAGE, "get", "k")))
    assert got[0] == "" and "storage.get is not available" in got[1]
    # has returns only a bool: a failure ends the run, with its reason.
    result = execute(executor, ComponentGuest().call(STORAGE, "has", "k"))
    assert result.error is not None and result.error.type == ExecutionErrorType.RUNTIME_ERROR


def test_vrf_interface(executor: Executor, settings: Settings, tmp_path: Path) -> None:
    guest = ComponentGuest().call(VRF, "generate", "round-1")
    services = local(settings, tmp_path)
    output, proof, alpha, error = lines(execute(executor, guest, services=services))
    assert error == ""
    assert bytes.fromhex(alpha) == vrf.alpha_for("https:call-7", b"round-1")
    assert vrf.proof_to_hash(bytes.fromhex(proof)).hex() == output and len(output) == 128
    off = lines(execute(executor, guest))
    assert off[:3] == ["", "", ""] and "random is not available" in off[3]


def test_payment_interface(executor: Executor) -> None:
    guest = (ComponentGuest().call(PAYMENT, "refund-usd", 900)
             .call(PAYMENT, "refund-usd", 200).call(PAYMENT, "refund-usd", 100))  # fmt: skip
    result = execute(executor, guest, env={"ATTACHED_USD": "500"})
    got = lines(result)
    assert "cannot refund 900" in got[0] and got[1] == "" and "once per run" in got[2]
    assert result.refund_usd == 200


def test_signing_is_refused(executor: Executor) -> None:
    guest = (ComponentGuest()
             .call(RPC, "send-tx", "AAAA", "")
             .call(RPC, "call", "a.near", "ed25519:x", "b.near", "m", "{}", "0", "30", "")
             .call(RPC, "transfer", "a.near", "ed25519:x", "b.near", "1", ""))  # fmt: skip
    assert lines(execute(executor, guest)) == ["", SIGNING_REFUSED] * 3


def test_rpc_reads_on_localnet(executor: Executor, settings: Settings, tmp_path: Path) -> None:
    with running_localnet(tmp_path / "chain") as (url, root):
        # A chain just started may have only its genesis final: wait for a first final block.
        rpc = NearRpc(url)
        deadline = time.monotonic() + 30
        while rpc.block()["header"]["height"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        chain = settings.model_copy(update={"executor": settings.executor.model_copy(update={
            "guest": settings.executor.guest.model_copy(update={"chain_rpc": url})})})  # fmt: skip
        guest = (ComponentGuest()
                 .call(RPC, "view-account", root.account_id, "")
                 .call(RPC, "block", "final")
                 .call(RPC, "block", "optimistic")
                 .call(RPC, "view", root.account_id, "get", "{}", "")
                 .call(RPC, "view-account", "Not An Account", "")
                 .call(RPC, "raw", "send_tx", "{}")
                 .call(RPC, "raw", "block", '{"finality": "final"}')
                 .call(RPC, "network-info"))  # fmt: skip
        result = execute(executor, guest, services=local(chain, tmp_path))
    got = lines(result)
    assert "amount" in json.loads(got[0]) and got[1] == ""
    assert json.loads(got[2])["header"]["height"] > 0 and got[3] == ""
    assert got[4] == "" and "optimistic reads are not served" in got[5]
    assert got[6] == "" and got[7] != ""
    assert got[8] == "" and "not a NEAR account id" in got[9]
    assert got[10:12] == ["", SIGNING_REFUSED]
    assert "header" in json.loads(got[12]) and got[13] == ""
    assert got[14] == "" and "network-info is not served" in got[15]
    assert result.resources_used.capabilities["chain_calls"] == 8


def test_http_get_goes_through_fetch(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    with https_server(tmp_path / "oracle-pki") as server:
        guest = settings.executor.guest.model_copy(update={
            "fetch_allow_networks": ["127.0.0.0/8"], "fetch_ca_file": server.ca_file})  # fmt: skip
        configured = settings.model_copy(update={
            "executor": settings.executor.model_copy(update={"guest": guest})})  # fmt: skip
        component = (ComponentGuest(fetch_hosts="localhost")
                     .call(RPC, "http-get", server.url("/price"), None)
                     .call(RPC, "http-get", server.url("/missing"), None)
                     .call(RPC, "http-get", "https://example.com/", None))  # fmt: skip
        services = local_services(configured, component.wasm(), data_dir=tmp_path,
                                  store="module:components", caller="alice.near",
                                  origin_key="https:call-7")  # fmt: skip
        got = lines(execute(executor, component, services=services))
    assert json.loads(got[0]) == {"pair": "NEAR-USD", "price": "3.14"} and got[1] == ""
    assert got[3] == "HTTP 404"
    assert got[4] == "" and "example.com" in got[5]


def test_a_guest_built_against_other_wit_fails_to_link(executor: Executor) -> None:
    other = '(export "generate" (func (param "seed" u32) (result string)))'
    guest = ComponentGuest(extra_imports=f'(import "near:vrf/api@0.1.0" (instance {other}))')
    result = execute(executor, guest)
    assert result.error is not None and result.error.type == ExecutionErrorType.LINK_ERROR
    assert "near:vrf/api@0.1.0 generate is imported as func(seed: u32) -> string" in (
        result.error.message
    )
    unknown = ComponentGuest(extra_imports='(import "near:vrf/api@0.1.0" (instance '
                             '(export "roll" (func))))')  # fmt: skip
    result = execute(executor, unknown)
    assert result.error is not None and result.error.type == ExecutionErrorType.LINK_ERROR
    assert "no function roll" in result.error.message


@pytest.mark.parametrize(
    ("files", "refused"),
    [
        ({"Cargo.toml": '[package.metadata.outlayer]\ntarget = "wasm32-wasip2"\n'}, True),
        ({".cargo/config.toml": '[build]\ntarget = "wasm32-wasip2"\n'}, True),
        ({".cargo/config.toml": '[build]\ntarget = "wasm32-wasip1"\n'}, False),
        ({}, False),
    ],
)
def test_the_compiler_says_why_it_cannot_build_a_wasip2_crate(
    tmp_path: Path, files: dict[str, str], refused: bool
) -> None:
    manifest = '[package]\nname = "guest"\nversion = "0.1.0"\nedition = "2021"\n'
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "Cargo.toml").write_text(manifest + files.pop("Cargo.toml", ""))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    if not refused:
        assert detect(tmp_path).kind == "rust"
        return
    with pytest.raises(BuildFailure) as caught:
        detect(tmp_path)
    assert "wasm32-wasip2" in caught.value.message and "wasm-component-ld" in caught.value.message


def test_a_compiled_component_is_cached_and_reused(executor: Executor, settings: Settings) -> None:
    guest = ComponentGuest().print(b"again and again")
    for _ in range(3):  # compiled, then read from the cache (or preloaded by the zygote)
        assert lines(execute(executor, guest)) == ["again and again"]
    cached = list(Path(settings.executor.module_cache_dir).glob("*-component.cwasm"))
    assert cached, "no compiled component in the module cache"
    # What the zygote preloads for later workers, and what a worker then finds.
    engine = make_engine()
    ready = preload(engine, str(cached[0]))
    assert isinstance(ready, Component)
    wasm = guest.wasm()
    cache = ModuleCache(settings.executor.module_cache_dir)
    if component_path(cache, wasm) == str(cached[0]):
        assert cache.load(engine, wasm, {str(cached[0]): ready}).preloaded


def test_a_component_sleeping_past_its_limit_times_out(executor: Executor) -> None:
    guest = ComponentGuest(extra_imports=SLEEP_IMPORTS, extra_lowered=SLEEP_LOWERED).wat(SLEEP)
    started = time.monotonic()
    result = execute(executor, guest, limits=RequestedLimits(max_execution_seconds=1))
    assert result.error is not None and result.error.type == ExecutionErrorType.TIMEOUT
    assert time.monotonic() - started < 8
