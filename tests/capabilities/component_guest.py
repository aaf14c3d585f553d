"""Test components in the component-model text format: WASI preview 2 for its streams, exit and
environment, and calls to the platform's interfaces (``near:rpc/api``, ``near:storage/api``,
``near:vrf/api``, ``near:payment/api``) through canonical lift/lower, as a guest written for the
leading platform's WIT imports them.

Each call's string results are printed to stdout, one per line (a bool as 0/1), so a test
reads what the guest saw. (No Rust component is built: see docs/guest-abi.md, "Components".)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import wasmtime

# interface -> function -> (its component-level type, its core params, the number of (ptr,
# len) pairs the results hold at the return pointer; 0: the result is one i32, printed)
SIGNATURES: dict[str, dict[str, tuple[str, int, int]]] = {
    "near:rpc/api@0.1.0": {
        "view": ("(param \"contract-id\" string) (param \"method-name\" string) "
                 "(param \"args-json\" string) (param \"finality-or-block\" string) "
                 "(result (tuple string string))", 8, 2),
        "view-account": ("(param \"account-id\" string) (param \"finality-or-block\" string) "
                         "(result (tuple string string))", 4, 2),
        "block": ("(param \"finality-or-block\" string) (result (tuple string string))", 2, 2),
        "status": ("(result (tuple string string))", 0, 2),
        "network-info": ("(result (tuple string string))", 0, 2),
        "raw": ("(param \"method\" string) (param \"params-json\" string) "
                "(result (tuple string string))", 4, 2),
        "send-tx": ("(param \"signed-tx-base64\" string) (param \"wait-until\" string) "
                    "(result (tuple string string))", 4, 2),
        "call": ("(param \"signer-id\" string) (param \"signer-key\" string) "
                 "(param \"receiver-id\" string) (param \"method-name\" string) "
                 "(param \"args-json\" string) (param \"deposit-yocto\" string) "
                 "(param \"gas\" string) (param \"wait-until\" string) "
                 "(result (tuple string string))", 16, 2),
        "transfer": ("(param \"signer-id\" string) (param \"signer-key\" string) "
                     "(param \"receiver-id\" string) (param \"amount-yocto\" string) "
                     "(param \"wait-until\" string) (result (tuple string string))", 10, 2),
        "http-get": ("(param \"url\" string) (param \"headers\" (option string)) "
                     "(result (tuple string string))", 5, 2),
    },
    "near:storage/api@0.1.0": {
        "set": ("(param \"key\" string) (param \"value\" (list u8)) (result string)", 4, 1),
        "get": ("(param \"key\" string) (result (tuple (list u8) string))", 2, 2),
        "has": ("(param \"key\" string) (result bool)", 2, 0),
        "delete": ("(param \"key\" string) (result bool)", 2, 0),
        "list-keys": ("(param \"prefix\" string) (result (tuple string string))", 2, 2),
        "set-worker": ("(param \"key\" string) (param \"value\" (list u8)) (result string)", 4,
                       1),
        "get-worker": ("(param \"key\" string) (result (tuple (list u8) string))", 2, 2),
        "get-by-version": ("(param \"key\" string) (param \"wasm-hash\" string) "
                           "(result (tuple (list u8) string))", 4, 2),
        "clear-all": ("(result string)", 0, 1),
    },
    "near:vrf/api@0.1.0": {
        "generate": ("(param \"user-seed\" string) (result (tuple string string string string))",
                     2, 4),
    },
    "near:payment/api@0.1.0": {
        "refund-usd": ("(param \"amount\" u64) (result string)", 1, 1),
    },
}  # fmt: skip

DATA = 8192  # where the strings are (a newline at DATA + 8, then "0" and "1")

# The WASI preview 2 imports every test component makes.
_WASI = """
  (import "wasi:io/error@0.2.0" (instance $ioerr (export "error" (type (sub resource)))))
  (alias export $ioerr "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (alias outer 1 $error (type $e))
    (export "error" (type $err (eq $e)))
    (export "output-stream" (type $os (sub resource)))
    (export "input-stream" (type $is (sub resource)))
    (type $se (variant (case "last-operation-failed" (own $err)) (case "closed")))
    (export "stream-error" (type $sen (eq $se)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8))
        (result (result (error $sen)))))
    (export "[method]input-stream.blocking-read"
      (func (param "self" (borrow $is)) (param "len" u64)
        (result (result (list u8) (error $sen)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (alias export $streams "input-stream" (type $input-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $o))
    (export "output-stream" (type $os (eq $o)))
    (export "get-stdout" (func (result (own $os))))))
  (import "wasi:cli/stderr@0.2.0" (instance $stderr
    (alias outer 1 $output-stream (type $o))
    (export "output-stream" (type $os (eq $o)))
    (export "get-stderr" (func (result (own $os))))))
  (import "wasi:cli/stdin@0.2.0" (instance $stdin
    (alias outer 1 $input-stream (type $i))
    (export "input-stream" (type $is (eq $i)))
    (export "get-stdin" (func (result (own $is))))))
  (import "wasi:cli/environment@0.2.0" (instance $environment
    (export "get-environment" (func (result (list (tuple string string)))))))
  (import "wasi:cli/exit@0.2.0" (instance $exit (export "exit" (func (param "status" (result))))))
"""

_MEMORY = """
  (core module $memory_module
    (memory (export "memory") 2)
    (global $next (mut i32) (i32.const 65536))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $at i32)
      ;; a bump allocator in the second page and beyond: never frees
      (local.set $at (i32.and (i32.add (global.get $next) (i32.sub (local.get 2) (i32.const 1)))
                              (i32.sub (i32.const 0) (local.get 2))))
      (global.set $next (i32.add (local.get $at) (local.get 3)))
      (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
        (then (drop (memory.grow (i32.add (i32.shr_u (local.get 3) (i32.const 16))
                                          (i32.const 1))))))
      (local.get $at)))
  (core instance $mem (instantiate $memory_module))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))
  (core func $get_stdout (canon lower (func $stdout "get-stdout")))
  (core func $get_stderr (canon lower (func $stderr "get-stderr")))
  (core func $get_stdin (canon lower (func $stdin "get-stdin")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $memory)))
  (core func $read (canon lower (func $streams "[method]input-stream.blocking-read")
    (memory $memory) (realloc $realloc)))
  (core func $get_environment (canon lower (func $environment "get-environment")
    (memory $memory) (realloc $realloc)))
  (core func $exit (canon lower (func $exit "exit")))
"""

# Core helpers of the main module: print (ptr, len) and a newline to a stream.
_HELPERS = """
    (func $out (param $stream i32) (param $ptr i32) (param $len i32)
      (call $write (local.get $stream) (local.get $ptr) (local.get $len) (i32.const 4096)))
    (func $line (param $ptr i32) (param $len i32)
      (call $out (global.get $stdout) (local.get $ptr) (local.get $len))
      (call $out (global.get $stdout) (i32.const 8200) (i32.const 1)))
    (func $pairs (param $at i32) (param $count i32)
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (call $line (i32.load (local.get $at)) (i32.load offset=4 (local.get $at)))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next))))
"""


@dataclass
class ComponentGuest:
    """A test component: ``body`` is WAT run inside the core ``run`` function (helpers:
    ``$line``, ``$out``, ``$pairs``, the ``$stdout``/``$stderr`` globals); :meth:`call` adds a
    call to a platform function whose results are printed. ``extra_imports``: more
    component-level imports (e.g. wasi:sockets, to be refused)."""

    body: list[str] = field(default_factory=list)
    extra_imports: str = ""
    fetch_hosts: str = ""
    # More core functions: (canon lower ...) definitions, and the main module's imports of them
    # (as "host" "<name>"), for what :meth:`call` does not cover.
    extra_lowered: dict[str, tuple[str, str]] = field(default_factory=dict)
    _data: bytearray = field(default_factory=lambda: bytearray(b"\0" * 8 + b"\n01"))
    _used: set[tuple[str, str]] = field(default_factory=set)

    def wat(self, code: str) -> ComponentGuest:
        self.body.append(code)
        return self

    def text(self, value: bytes) -> tuple[int, int]:
        at = DATA + len(self._data)
        self._data += value
        return at, len(value)

    def print(self, value: bytes) -> ComponentGuest:
        return self.wat("(call $line (i32.const {}) (i32.const {}))".format(*self.text(value)))

    def call(
        self, interface: str, function: str, *args: str | bytes | int | None
    ) -> ComponentGuest:
        pairs = SIGNATURES[interface][function][2]
        self._used.add((interface, function))
        operands: list[str] = []
        for arg in args:
            if isinstance(arg, int):
                operands.append(f"(i64.const {arg})")
                continue
            if arg is None:  # option<string>: none
                operands += ["(i32.const 0)", "(i32.const 0)", "(i32.const 0)"]
                continue
            raw = arg.encode() if isinstance(arg, str) else arg
            ptr, length = self.text(raw)
            operands += [f"(i32.const {ptr})", f"(i32.const {length})"]
        name = _core_name(interface, function)
        if pairs == 0:
            self.wat(f"(call $line (i32.add (i32.const 8201) (call {name} {' '.join(operands)})) "
                     "(i32.const 1))")  # fmt: skip
        else:
            self.wat(f"(call {name} {' '.join(operands)} (i32.const 2048))")
            self.wat(f"(call $pairs (i32.const 2048) (i32.const {pairs}))")
        return self

    def wasm(self) -> bytes:
        return bytes(wasmtime.wat2wasm(self.source()))

    def source(self) -> str:
        imports, lowered, core_imports, instance_items = [], [], [], []
        by_interface: dict[str, list[str]] = {}
        for interface, function in sorted(self._used):
            by_interface.setdefault(interface, []).append(function)
        for number, (interface, functions) in enumerate(sorted(by_interface.items())):
            exports = " ".join(
                f'(export "{f}" (func {SIGNATURES[interface][f][0]}))' for f in functions
            )
            imports.append(f'(import "{interface}" (instance $platform{number} {exports}))')
            for function in functions:
                _, core_params, pairs = SIGNATURES[interface][function]
                name = _core_name(interface, function)
                lowered.append(f'(core func {name} (canon lower (func $platform{number} '
                               f'"{function}") (memory $memory) (realloc $realloc)))')  # fmt: skip
                params = _core_params(interface, function, core_params, pairs)
                results = "(result i32)" if pairs == 0 else ""
                core_imports.append(f'(import "host" "{name[1:]}" (func {name} {params} '
                                    f"{results}))")  # fmt: skip
                instance_items.append(f'(export "{name[1:]}" (func {name}))')
        for name, (definition, core_type) in self.extra_lowered.items():
            lowered.append(f"(core func ${name} {definition})")
            core_imports.append(f'(import "host" "{name}" (func ${name} {core_type}))')
            instance_items.append(f'(export "{name}" (func ${name}))')
        data = bytes(self._data).replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        escaped = "".join(chr(b) if 32 <= b < 127 else f"\\{b:02x}" for b in data)
        custom = ""
        if self.fetch_hosts:
            custom = f'(@custom "outlayer.fetch" "{self.fetch_hosts}")'
        return f"""(component
  {_WASI}
  {self.extra_imports}
  {" ".join(imports)}
  {_MEMORY}
  {" ".join(lowered)}
  (core module $main
    (import "host" "memory" (memory 1))
    (import "host" "get-stdout" (func $get_stdout (result i32)))
    (import "host" "get-stderr" (func $get_stderr (result i32)))
    (import "host" "get-stdin" (func $get_stdin (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "read" (func $read (param i32 i64 i32)))
    (import "host" "get-environment" (func $get_environment (param i32)))
    (import "host" "exit" (func $exit (param i32)))
    {" ".join(core_imports)}
    (global $stdout (mut i32) (i32.const 0))
    (global $stderr (mut i32) (i32.const 0))
    (data (i32.const {DATA}) "{escaped}")
    {_HELPERS}
    (func (export "run") (result i32)
      (global.set $stdout (call $get_stdout))
      (global.set $stderr (call $get_stderr))
      {" ".join(self.body)}
      (i32.const 0)))
  (core instance $i (instantiate $main (with "host" (instance
    (export "memory" (memory $memory))
    (export "get-stdout" (func $get_stdout)) (export "get-stderr" (func $get_stderr))
    (export "get-stdin" (func $get_stdin)) (export "write" (func $write))
    (export "read" (func $read)) (export "get-environment" (func $get_environment))
    (export "exit" (func $exit))
    {" ".join(instance_items)}))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance))
  {custom}
)"""


def _core_name(interface: str, function: str) -> str:
    package = interface.split("/", maxsplit=1)[0].split(":")[1]
    return f"${package}-{function}"


def _core_params(interface: str, function: str, flat: int, pairs: int) -> str:
    if interface.startswith("near:payment"):
        return "(param i64 i32)"
    if function == "http-get":
        return "(param i32 i32 i32 i32 i32 i32)"
    types = ["i32"] * flat + (["i32"] if pairs else [])
    return f"(param {' '.join(types)})" if types else ""


# Ready-made bodies: read stdin (up to 4096 bytes) and print it; print every variable.
ECHO_STDIN = """
  (call $read (call $get_stdin) (i64.const 4096) (i32.const 3000))
  (if (i32.eqz (i32.load8_u (i32.const 3000)))
    (then (call $line (i32.load (i32.const 3004)) (i32.load (i32.const 3008)))))
"""
PRINT_ENVIRONMENT = """
  (call $get_environment (i32.const 3100))
  (call $pairs (i32.load (i32.const 3100)) (i32.shl (i32.load (i32.const 3104)) (i32.const 1)))
"""

# Sleeps through wasi:clocks and wasi:io/poll (a pollable's block), 3 s.
SLEEP_IMPORTS = """
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type $p (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow $p))))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (alias outer 1 $pollable (type $p0))
    (export "pollable" (type $p (eq $p0)))
    (export "subscribe-duration" (func (param "when" u64) (result (own $p))))))
"""
SLEEP_LOWERED = {
    "subscribe": ('(canon lower (func $clock "subscribe-duration"))', "(param i64) (result i32)"),
    "block": ('(canon lower (func $poll "[method]pollable.block"))', "(param i32)"),
}
SLEEP = "(call $block (call $subscribe (i64.const 3000000000)))"
