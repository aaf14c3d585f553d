"""Runs one WASI preview 2 component, metered and capped as a core module is (issue #15).

A component is told from a core module by its header (the layer and version bytes after
``\\0asm``). It runs under the same engine, with the same fuel, epoch deadline, store memory
limit, captured and capped stdout/stderr, stdin from the job's input and the job's variables,
and its failures take the same error types (:class:`~outlayer.errors.ExecutionErrorType`).

What a component may import: WASI preview 2 (``wasmtime`` ``add_wasip2``) without sockets or
HTTP (refused at load time with ``link_error``) and with no preopened directory, and the
platform's interfaces (``services/executor/wit``): ``near:rpc/api``, ``near:storage/api``,
``near:vrf/api`` and ``near:payment/api``, the WIT that guests of the leading platform of this
kind are written against, served over the same host calls as the core ABI (``_guest_abi``),
paid in the same instructions. docs/guest-abi.md, "Components", says what is served, refused
or different.

Memory: each core module of the component has its ``memory.grow`` routed as a core module's is
(``_memgrow``), but a component's core globals cannot be read from outside it, so a refused
grow here ends the run at once with a trap of its own (``BAD_CONVERSION_TO_INTEGER`` in the
routing function) that the run reports as ``memory_limit``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime.component as wc

from outlayer import vrf
from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor import _memgrow
from services.executor._guest_abi import (
    BYTE_FUEL,
    CALL_FUEL,
    SIGNING_REFUSED,
    HostBridge,
    HostStatus,
    _charge,
)
from services.executor._sandbox import (
    MAX_TABLE_ELEMENTS,
    MAX_TABLES,
    WASM_MAGIC,
    GuestRun,
    HostFunctionFailure,
    InvalidModule,
    LoadedModule,
    ModuleCache,
    RawOutcome,
    SandboxJob,
    Watchdog,
    _first_line,
)

WIT_DIR = Path(__file__).parent / "wit"  # our interfaces, the leading platform's signatures
COMPONENT_SUFFIX = "-component.cwasm"  # a compiled component's file in the module cache
RUN_EXPORT = "wasi:cli/run@0.2"  # any 0.2.x
# A component is made of several core instances and memories (its own, an adapter's, the
# canonical ABI's shims); each memory is held to the job's limit.
MAX_INSTANCES = 64
MAX_MEMORIES = 4
# WASI preview 2 interfaces a component may import; sockets and HTTP are the network.
ALLOWED_WASI = ("wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/")
REFUSED_WASI = ("wasi:sockets/", "wasi:http/")
RPC, STORAGE = "near:rpc/api@0.1.0", "near:storage/api@0.1.0"
VRF, PAYMENT = "near:vrf/api@0.1.0", "near:payment/api@0.1.0"
PLATFORM_INTERFACES = (RPC, STORAGE, VRF, PAYMENT)

_SEC_CORE_MODULE, _SEC_COMPONENT = 1, 4
_SEC_IMPORT, _SEC_FUNCTION = 2, 3
# f32.const NaN; i32.trunc_f32_s (traps: bad conversion to integer); drop
_TRAP_ON_REFUSAL = b"\x43\x00\x00\xc0\x7f\xa8\x1a"
GROW_FUNCTION_NAME = "__outlayer_refused_grow"
_GROW_FRAME = re.compile(rf"^\s*0:\s+0x[0-9a-f]+ - .*!{GROW_FUNCTION_NAME}$", re.MULTILINE)


def is_component(wasm: bytes) -> bool:
    """A component's header is ``\\0asm`` then version 0x0d and layer 1; a core module's,
    version 1 and layer 0."""
    return wasm[:4] == WASM_MAGIC and wasm[6:8] == b"\x01\x00"


# --- loading ----------------------------------------------------------------------------------
def component_path(cache: ModuleCache, wasm: bytes) -> str:
    module_path = cache.path_for(hashlib.sha256(wasm).hexdigest())
    return module_path.removesuffix(".cwasm") + COMPONENT_SUFFIX


def load_component(
    cache: ModuleCache,
    engine: wasmtime.Engine,
    wasm: bytes,
    preloaded: Mapping[str, Any] | None = None,
) -> LoadedModule:
    """As :meth:`ModuleCache.load`, for a component (its own file name in the cache)."""
    path = component_path(cache, wasm)
    ready = preloaded.get(path) if preloaded else None
    if isinstance(ready, wc.Component):
        return LoadedModule(ready, path, preloaded=True)  # type: ignore[arg-type]
    if os.path.isfile(path):
        try:
            return LoadedModule(wc.Component.deserialize_file(engine, path), path)  # type: ignore[arg-type]
        except wasmtime.WasmtimeError:
            Path(path).unlink(missing_ok=True)  # stale or damaged: rebuild below
    component = compile_component(engine, wasm)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(f"{path}.{os.getpid()}.tmp")
    partial.write_bytes(component.serialize())
    partial.replace(path)
    return LoadedModule(component, path)  # type: ignore[arg-type]


def preload_component(engine: wasmtime.Engine, path: str) -> wc.Component | None:
    try:
        return wc.Component.deserialize_file(engine, path)
    except (wasmtime.WasmtimeError, OSError):
        return None


def compile_component(engine: wasmtime.Engine, wasm: bytes) -> wc.Component:
    try:
        routed = _route_component(engine, wasm)
        component = wc.Component(engine, routed)
    except (wasmtime.WasmtimeError, _Malformed) as exc:
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM, f"invalid WebAssembly component: {_first_line(exc)}"
        ) from None
    except _memgrow.UnsupportedInstruction as exc:
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM,
            f"the component uses {exc}, which OutLayer does not support; build for "
            "wasm32-wasip2 without the GC, exception-handling or threads proposals",
        ) from None
    _check_component(engine, component)
    return component


def _check_component(engine: wasmtime.Engine, component: wc.Component) -> None:
    kind = component.type
    imports = list(kind.imports(engine))
    network = [name for name in imports if name.startswith(REFUSED_WASI)]
    if network:
        raise InvalidModule(
            ExecutionErrorType.LINK_ERROR,
            f"component imports {', '.join(network)}: guests have no network here (no "
            "wasi:sockets, no wasi:http); reach HTTPS hosts through near:rpc/api http-get and "
            "http-post, or the outlayer fetch host call (docs/guest-abi.md)",
        )
    foreign = [
        name
        for name in imports
        if not name.startswith(ALLOWED_WASI) and name not in PLATFORM_INTERFACES
    ]
    if foreign:
        raise InvalidModule(
            ExecutionErrorType.LINK_ERROR,
            f"component imports {', '.join(foreign)}, which OutLayer does not provide; "
            "components may import WASI preview 2 (cli, io, clocks, random, filesystem) and "
            f"{', '.join(PLATFORM_INTERFACES)} (docs/guest-abi.md)",
        )
    for name, item in kind.imports(engine).items():
        if name in PLATFORM_INTERFACES:
            _check_signatures(engine, name, item.ty)
    if not any(name.startswith(RUN_EXPORT) for name in kind.exports(engine)):
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM,
            "component exports no wasi:cli/run@0.2 interface: OutLayer runs WASI commands "
            "(a program with a main function built for wasm32-wasip2)",
        )


def _check_signatures(engine: wasmtime.Engine, interface: str, item: object) -> None:
    """Each function the component imports from one of our interfaces has the signature our
    WIT gives it (``services/executor/wit``): a guest built against other WIT fails to link,
    rather than reaching a host function with arguments it does not expect."""
    expected = platform_signatures()[interface]
    if not isinstance(item, wc.ComponentInstanceType):
        raise _link_error(f"{interface} is imported as something other than an instance")
    for function, extern in item.exports(engine).items():
        want = expected.get(function)
        if want is None:
            raise _link_error(f"{interface} has no function {function} on this platform")
        ty = extern.ty
        got = _render_func(ty) if isinstance(ty, wc.FuncType) else type(ty).__name__
        if got != want:
            raise _link_error(f"{interface} {function} is imported as {got}; it is {want}")


def _link_error(message: str) -> InvalidModule:
    return InvalidModule(ExecutionErrorType.LINK_ERROR,
                         f"{message} (services/executor/wit, docs/guest-abi.md)")  # fmt: skip


def _render_func(ty: wc.FuncType) -> str:
    params = ", ".join(f"{name}: {_render(value)}" for name, value in ty.params)
    result = f" -> {_render(ty.result)}" if ty.result is not None else ""
    return f"func({params}){result}"


def _render(ty: Any) -> str:
    if isinstance(ty, wc.ListType):
        return f"list<{_render(ty.element)}>"
    if isinstance(ty, wc.TupleType):
        return f"tuple<{', '.join(_render(e) for e in ty.elements)}>"
    if isinstance(ty, wc.OptionType):
        return f"option<{_render(ty.payload)}>"
    return type(ty).__name__.lower()  # string, bool, u8, u64, ...


_WIT_FUNCTION = re.compile(r"^\s*([a-z][a-z0-9-]*): (func\(.*\)(?: -> .*)?);$", re.MULTILINE)
_WIT_PACKAGE = re.compile(r"^package ([a-z:]+)@([0-9.]+);$", re.MULTILINE)


@functools.cache
def platform_signatures() -> dict[str, dict[str, str]]:
    """interface (``near:rpc/api@0.1.0``) -> function -> its signature, from our WIT files."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(WIT_DIR.glob("*.wit")):
        text = path.read_text()
        package = _WIT_PACKAGE.search(text)
        assert package is not None, path
        interface = f"{package[1]}/api@{package[2]}"
        found[interface] = {name: sig for name, sig in _WIT_FUNCTION.findall(text)}
    return found


class _Malformed(Exception):
    pass


def _component_sections(wasm: bytes) -> list[tuple[int, bytes]]:
    sections: list[tuple[int, bytes]] = []
    at = 8
    while at < len(wasm):
        section_id = wasm[at]
        size, at = _memgrow._leb_u(wasm, at + 1)
        if at + size > len(wasm):
            raise _Malformed("a section runs past the end of the component")
        sections.append((section_id, wasm[at : at + size]))
        at += size
    return sections


def _route_component(engine: wasmtime.Engine, wasm: bytes) -> bytes:
    """The component with each core module's memory.grow routed, and trapping on refusal."""
    out = bytearray(wasm[:8])
    for section_id, original in _component_sections(wasm):
        payload = original
        if section_id == _SEC_CORE_MODULE:
            payload = _route_core(engine, original)
        elif section_id == _SEC_COMPONENT:
            payload = _route_component(engine, original)
        out.append(section_id)
        out += _memgrow._enc_u(len(payload))
        out += payload
    return bytes(out)


def _route_core(engine: wasmtime.Engine, module: bytes) -> bytes:
    try:
        wasmtime.Module.validate(engine, module)  # the rewriter needs a valid module
    except wasmtime.WasmtimeError as exc:
        raise _Malformed(f"a core module of the component is invalid: {_first_line(exc)}") from None
    routed = _memgrow.route_memory_grow(module)
    if routed == module:
        return module
    # The routing function is the last body: make its refusal branch trap (it ends with
    # `global.set; end (if); local.get 1; end`).
    sections = _memgrow._sections(routed)
    code = next(s for s in sections if s.id == 10)
    count, pos = _memgrow._leb_u(code.payload, 0)
    bodies: list[bytes] = []
    for _ in range(count):
        size, pos = _memgrow._leb_u(code.payload, pos)
        bodies.append(code.payload[pos : pos + size])
        pos += size
    grow = bodies[-1]
    bodies[-1] = grow[:-4] + _TRAP_ON_REFUSAL + grow[-4:]
    code.payload = _memgrow._vec([_memgrow._enc_u(len(b)) + b for b in bodies])
    _name_grow_function(sections)
    return _memgrow._assemble(sections)


def _name_grow_function(sections: list[_memgrow._Section]) -> None:
    """Names the routing function (the last one) in the module's name section, so that a trap
    in it is recognised by its frame alone, however the component was loaded."""
    by_id = {section.id: section for section in sections if section.id != 0}
    imported = _memgrow._count_imports(by_id[_SEC_IMPORT].payload)[0] if _SEC_IMPORT in by_id else 0
    defined, _ = _memgrow._leb_u(by_id[_SEC_FUNCTION].payload, 0)
    entry = _memgrow._enc_u(imported + defined - 1) + _memgrow._name(GROW_FUNCTION_NAME)
    header = _memgrow._name("name")
    names = next((s for s in sections if s.id == 0 and s.payload.startswith(header)), None)
    if names is None:
        names = _memgrow._Section(0, header)
        sections.append(names)
    body, pos, out, done = names.payload[len(header) :], 0, bytearray(), False
    while pos < len(body):  # subsections, in order: 0 module, 1 functions, 2 locals, ...
        sub_id = body[pos]
        size, start = _memgrow._leb_u(body, pos + 1)
        content, pos = body[start : start + size], start + size
        if sub_id > 1 and not done:
            out += b"\x01" + _memgrow._enc_u(len(_memgrow._vec([entry]))) + _memgrow._vec([entry])
            done = True
        elif sub_id == 1:
            content, _ = _memgrow._append_to_vector(content, entry)  # the largest index: last
            done = True
        out += bytes([sub_id]) + _memgrow._enc_u(len(content)) + content
    if not done:
        out += b"\x01" + _memgrow._enc_u(len(_memgrow._vec([entry]))) + _memgrow._vec([entry])
    names.payload = header + bytes(out)


# --- the run ----------------------------------------------------------------------------------
Answer = dict[str, Any]


class ComponentRun(GuestRun):
    """One execution of one component. Shares a core run's captured streams, deadline and
    classification (it is a :class:`GuestRun` whose core linker goes unused)."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        *,
        watchdog: Watchdog | None = None,
        host: HostBridge | None = None,
    ) -> None:
        super().__init__(engine, watchdog=watchdog, host=host)
        self._grow_refused = False
        self._refunded = False
        self._component_linker = self._make_linker()

    def run_component(self, component: wc.Component, job: SandboxJob) -> RawOutcome:
        if self._used:
            raise RuntimeError("a ComponentRun runs one job; make a new one")
        self._used = True
        self._job = job
        limits = job.limits
        store, linker = self._store, self._component_linker
        del self._store, self._linker, self._component_linker
        self._configure(store, limits)

        outcome = RawOutcome()
        instance: wc.Instance | None = None
        failure: BaseException | None = None
        started = time.perf_counter()
        self._watchdog.arm(limits.max_execution_seconds, self._on_deadline)
        try:
            instance = linker.instantiate(store, component)
            run = _run_function(self._engine, store, component, instance)
            result = run(store)
            failed = getattr(result, "tag", "ok") == "err"
            outcome.exit_code = 1 if failed else 0
        except wasmtime.ExitTrap as exc:
            outcome.exit_code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            failure = exc
        except Exception as exc:  # a bug in one of our host functions, not the guest's fault
            failure = HostFunctionFailure(f"{type(exc).__name__}: {exc}")
            outcome.hidden_log = traceback.format_exc()
        finally:
            self._watchdog.disarm()
            outcome.time_ms = round((time.perf_counter() - started) * 1000)

        outcome.instructions = limits.max_instructions - store.get_fuel()
        outcome.memory_bytes = 0  # a component's memories are not visible from outside it
        self._grow_refused = _is_refused_grow(failure)
        outcome.stdout = bytes(self._stdout)
        outcome.logs = self._render_logs()
        outcome.refund_usd = self._refund_usd
        if failure is not None and not outcome.hidden_log:
            outcome.hidden_log = f"{type(failure).__name__}: {failure}"
        self._classify(outcome, failure, instantiated=instance is not None)
        return outcome

    def _configure(self, store: wasmtime.Store, limits: ResourceLimits) -> None:
        super()._configure(store, limits)
        store.set_limits(
            memory_size=limits.max_memory_bytes,
            table_elements=MAX_TABLE_ELEMENTS,
            instances=MAX_INSTANCES,
            tables=MAX_TABLES,
            memories=MAX_MEMORIES,
        )

    def _memory_refused(self) -> bool:
        return self._grow_refused

    def _classify(
        self, outcome: RawOutcome, failure: BaseException | None, instantiated: bool
    ) -> None:
        super()._classify(outcome, failure, instantiated)
        if outcome.error_type is None and self._deadline.is_set():
            # WASI preview 2 sleeps block inside wasmtime, past the epoch: a guest that slept
            # through its deadline may return without another check (a worker is killed at the
            # hard deadline anyway).
            outcome.error_type = ExecutionErrorType.TIMEOUT
            outcome.error_message = (
                f"wall-clock limit of {self._job.limits.max_execution_seconds:g} s reached; "
                "raise max_execution_seconds or do less work"
            )
            return
        if outcome.error_type != ExecutionErrorType.RUNTIME_ERROR or isinstance(
            failure, (wasmtime.Trap, HostFunctionFailure)
        ):
            return
        # A trap inside a component is a WasmtimeError with no trap code: told by its text.
        text = str(failure)
        if "all fuel consumed" in text:
            outcome.error_type = ExecutionErrorType.INSTRUCTION_LIMIT
            outcome.error_message = (
                f"instruction limit of {self._job.limits.max_instructions} reached; "
                "raise max_instructions or do less work"
            )
        elif self._grow_refused:
            outcome.error_type = ExecutionErrorType.MEMORY_LIMIT
            outcome.error_message = self._memory_message()
        elif "call stack exhausted" in text:
            outcome.error_message = (
                "stack overflow: the call stack grew too deep (unbounded recursion?)"
            )
        elif "wasm trap" in text:
            outcome.error_message = f"guest trapped: {_trap_lines(text)}"

    # --- the platform's interfaces -------------------------------------------------------------
    def _make_linker(self) -> wc.Linker:
        linker = wc.Linker(self._engine)
        linker.add_wasip2()
        with linker.root() as root:
            for name, functions in self._interfaces().items():
                with root.add_instance(name) as interface:
                    for function, implementation in functions.items():
                        interface.add_func(function, implementation)
        return linker

    def _interfaces(self) -> dict[str, dict[str, Callable[..., Any]]]:
        def refused(*_args: Any) -> tuple[str, str]:
            return "", SIGNING_REFUSED

        rpc: dict[str, Callable[..., Any]] = {
            name: self._rpc_read(name, params)
            for name, params in {
                "view": ("contract-id", "method-name", "args-json", "finality-or-block"),
                "view-account": ("account-id", "finality-or-block"),
                "view-access-key": ("account-id", "public-key", "finality-or-block"),
                "view-access-key-list": ("account-id", "finality-or-block"),
                "view-code": ("account-id", "finality-or-block"),
                "view-state": ("account-id", "prefix-base64", "finality-or-block"),
                "block": ("finality-or-block",),
                "chunk": ("chunk-id-or-block-shard",),
                "changes": ("finality-or-block",),
                "tx-status": ("tx-hash", "sender-account-id", "wait-until"),
                "receipt": ("receipt-id",),
                "gas-price": ("block-id",),
                "status": (),
                "network-info": (),
                "validators": ("epoch-id",),
                "raw": ("method", "params-json"),
            }.items()
        }
        rpc |= {"send-tx": refused, "call": refused, "transfer": refused}
        rpc |= {"http-get": self._http_get, "http-post": self._http_post}
        storage: dict[str, Callable[..., Any]] = {
            "set": self._storage_set(per_caller=True),
            "get": self._storage_get(per_caller=True),
            "has": self._storage_has,
            "delete": self._storage_delete,
            "list-keys": self._storage_list_keys,
            "set-worker": self._storage_set(per_caller=False),
            "get-worker": self._storage_get(per_caller=False),
            "get-by-version": self._get_by_version,
            "clear-all": lambda _store: (
                "clear-all is not served here: list the keys (list-keys) and delete them"
            ),
            "clear-version": lambda _store, _hash: (
                "clear-version is not served here: a project's versions share one store"
            ),
        }
        return {
            RPC: rpc,
            STORAGE: storage,
            VRF: {"generate": self._vrf_generate},
            PAYMENT: {"refund-usd": self._refund},
        }

    def _ask(self, store: wasmtime.StoreContext, request: dict[str, Any], size: int) -> Answer:
        """One host call through the bridge, paid as the core ABI's are."""
        self.abi.calls += 1
        _charge(store, CALL_FUEL + BYTE_FUEL * size)  # type: ignore[arg-type]
        answer = self.abi.bridge.call(request)
        if answer.get("ok"):
            used = len(answer.get("data", b"")) * BYTE_FUEL + int(answer.get("fuel", 0))
            _charge(store, used)  # type: ignore[arg-type]
        return answer

    def _rpc_read(self, name: str, params: tuple[str, ...]) -> Callable[..., tuple[str, str]]:
        def read(store: wasmtime.StoreContext, *args: str) -> tuple[str, str]:
            named = dict(zip(params, args, strict=True))
            request = {"op": "near.rpc", "function": name, "args": named}
            answer = self._ask(store, request, sum(len(a) for a in args))
            if not answer.get("ok"):
                return "", str(answer.get("message", ""))
            return bytes(answer.get("data", b"")).decode("utf-8", errors="replace"), ""

        return read

    def _http(
        self, store: wasmtime.StoreContext, method: str, url: str, body: str, headers: str | None
    ) -> tuple[str, str]:
        try:
            extra = json.loads(headers) if headers else {}
        except ValueError:
            return "", "headers must be a JSON object of strings"
        if not isinstance(extra, dict):
            return "", "headers must be a JSON object of strings"
        if method == "POST" and not any(k.lower() == "content-type" for k in extra):
            extra["content-type"] = "application/json"
        encoded = base64.b64encode(body.encode()).decode()
        request = json.dumps(
            {"method": method, "url": url, "headers": extra, "body": encoded}
        ).encode()
        answer = self._ask(store, {"op": "fetch", "request": request}, len(request))
        if not answer.get("ok"):
            return "", str(answer.get("message", ""))
        response = json.loads(answer["data"])
        text = base64.b64decode(response["body"]).decode("utf-8", errors="replace")
        status = int(response["status"])
        return text, "" if 200 <= status < 300 else f"HTTP {status}"

    def _http_get(
        self, store: wasmtime.StoreContext, url: str, headers: str | None
    ) -> tuple[str, str]:
        return self._http(store, "GET", url, "", headers)

    def _http_post(
        self, store: wasmtime.StoreContext, url: str, body: str, headers: str | None
    ) -> tuple[str, str]:
        return self._http(store, "POST", url, body, headers)

    # near:storage/api: the caller's own space, and the project's shared one for *-worker.
    def _storage_set(self, per_caller: bool) -> Callable[..., str]:
        def set_value(store: wasmtime.StoreContext, key: str, value: bytes) -> str:
            request = {"op": "storage.set", "key": key, "value": bytes(value),
                       "per_caller": per_caller}  # fmt: skip
            answer = self._ask(store, request, len(key) + len(value))
            return "" if answer.get("ok") else str(answer.get("message", ""))

        return set_value

    def _storage_get(self, per_caller: bool) -> Callable[..., tuple[bytes, str]]:
        def get_value(store: wasmtime.StoreContext, key: str) -> tuple[bytes, str]:
            request = {"op": "storage.get", "key": key, "per_caller": per_caller}
            answer = self._ask(store, request, len(key))
            if answer.get("ok"):
                return bytes(answer.get("data", b"")), ""
            if answer.get("status") == HostStatus.NOT_FOUND:
                return b"", ""  # absent: an empty value and no error
            return b"", str(answer.get("message", ""))

        return get_value

    def _storage_has(self, store: wasmtime.StoreContext, key: str) -> bool:
        request = {"op": "storage.get", "key": key, "per_caller": True}
        answer = self._ask(store, request, len(key))
        if answer.get("ok"):
            return True
        if answer.get("status") == HostStatus.NOT_FOUND:
            return False
        raise _fault("has", answer)

    def _storage_delete(self, store: wasmtime.StoreContext, key: str) -> bool:
        request = {"op": "storage.delete", "key": key, "per_caller": True}
        answer = self._ask(store, request, len(key))
        if not answer.get("ok"):
            raise _fault("delete", answer)
        return bool(answer.get("value"))

    def _storage_list_keys(self, store: wasmtime.StoreContext, prefix: str) -> tuple[str, str]:
        keys: list[str] = []
        cursor = ""
        while True:
            request = {"op": "storage.list", "prefix": prefix, "cursor": cursor,
                       "per_caller": True}  # fmt: skip
            answer = self._ask(store, request, len(prefix) + len(cursor))
            if not answer.get("ok"):
                return "", str(answer.get("message", ""))
            page = json.loads(answer["data"])
            keys += page["keys"]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return json.dumps(keys), ""

    def _get_by_version(
        self, _store: wasmtime.StoreContext, _key: str, _wasm_hash: str
    ) -> tuple[bytes, str]:
        return b"", "get-by-version is not served here: a project's versions share one store, " \
            "so read the key with get"  # fmt: skip

    def _vrf_generate(self, store: wasmtime.StoreContext, seed: str) -> tuple[str, str, str, str]:
        material = seed.encode()
        answer = self._ask(store, {"op": "random", "seed": material}, len(material))
        if not answer.get("ok"):
            return "", "", "", str(answer.get("message", ""))
        drawn = json.loads(answer["data"])
        alpha = vrf.alpha_for(drawn["origin"], bytes.fromhex(drawn["seed"]))
        return drawn["output"], drawn["proof"], alpha.hex(), ""

    def _refund(self, _store: wasmtime.StoreContext, amount: int) -> str:
        """near:payment/api refund-usd: once per run, at most what was attached."""
        if self._refunded:
            return "refund-usd may be called once per run"
        attached = self._job.env.get("ATTACHED_USD", "0")
        cap = int(attached) if attached.isdigit() else 0
        if amount > cap:
            return f"cannot refund {amount}: the request attached {cap} (ATTACHED_USD)"
        self._refunded = True
        self._refund_usd = amount
        return ""


def _fault(function: str, answer: Answer) -> wasmtime.Trap:
    """A failure a function returning only a bool cannot report: the run ends with it."""
    return wasmtime.Trap(f"near:storage/api {function}: {answer.get('message', '')}")


def _run_function(
    engine: wasmtime.Engine, store: wasmtime.Store, component: wc.Component, instance: wc.Instance
) -> wc.Func:
    names = [n for n in component.type.exports(engine) if n.startswith(RUN_EXPORT)]
    interface = instance.get_export_index(store, names[0]) if names else None
    index = instance.get_export_index(store, "run", interface) if interface else None
    func = instance.get_func(store, index) if index is not None else None
    if func is None:
        raise wasmtime.WasmtimeError("the component exports no wasi:cli/run@0.2 `run` function")
    return func


def _is_refused_grow(failure: BaseException | None) -> bool:
    """A component's trap reaches Python as a WasmtimeError with no trap code: its text has
    the cause and the backtrace, whose first frame is the routing function on a refusal."""
    if not isinstance(failure, (wasmtime.Trap, wasmtime.WasmtimeError)):
        return False
    text = str(failure)
    return "invalid conversion to integer" in text and bool(_GROW_FRAME.search(text))


def _trap_lines(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-1:] + lines[:6])[:1000]


def run_component(
    engine: wasmtime.Engine,
    component: wc.Component,
    job: SandboxJob,
    host: HostBridge | None = None,
    watchdog: Watchdog | None = None,
) -> RawOutcome:
    return ComponentRun(engine, host=host, watchdog=watchdog).run_component(component, job)
