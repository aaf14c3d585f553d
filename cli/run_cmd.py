"""``outlayer run``: run a .wasm or .wat file once, sandboxed, and print its result as JSON."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import wasmtime

from outlayer.config import load_settings
from outlayer.errors import ExecutionErrorType, invalid_argument
from outlayer.limits import RequestedLimits
from outlayer.near.account_id import is_account_id
from outlayer.result import ExecutionResult, ResponseFormat
from services.executor import ExecutionJob, Executor
from services.executor.capabilities.local import local_services

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "outlayer" / "run"
# What randomness under `outlayer run` is bound to (on the platform: the job's request).
LOCAL_ORIGIN = "local:outlayer-run"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run a WASI module once and print its result as JSON",
        description="Runs FILE (.wasm or .wat) in the executor's sandbox and prints one JSON "
        "object. Exit 0 on success, 1 when the guest failed, 2 on bad usage.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="a .wasm or .wat module")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="TEXT", help="text given to the guest on stdin")
    source.add_argument("--input-file", type=Path, metavar="PATH", help="file given on stdin")
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="a guest variable (repeatable)"
    )
    parser.add_argument("--max-instructions", type=_whole_number, metavar="N",
                        help="default 1e9 (a whole number: 1000000000, 1_000_000_000 or "
                        "1e9)")  # fmt: skip
    parser.add_argument("--max-memory-mb", type=int, metavar="N")
    parser.add_argument("--timeout-s", type=float, metavar="S", dest="timeout_s")
    parser.add_argument(
        "--format",
        choices=[f.value for f in ResponseFormat],
        default=ResponseFormat.TEXT.value,
        help="how to return the guest's stdout (default: text)",
    )
    guest = parser.add_argument_group(
        "host functions (docs/guest-abi.md)",
        "Storage and randomness are served locally: storage in a SQLite file, randomness "
        "proven with a development key, both in --data-dir.",
    )
    guest.add_argument(
        "--data-dir",
        type=Path,
        metavar="PATH",
        help=f"where local storage and the key live (default {DEFAULT_DATA_DIR})",
    )
    guest.add_argument(
        "--store",
        metavar="NAME",
        help="the storage the guest sees (default: module:SHA256 of FILE; the "
        "platform's are project:OWNER/NAME and repo:URL)",
    )
    guest.add_argument(
        "--caller",
        default="",
        metavar="ACCOUNT",
        help="whose per-caller space the guest sees (default: none)",
    )
    guest.add_argument(
        "--rpc",
        metavar="URL",
        help="the NEAR RPC for the guest's chain reads (default: "
        "executor.guest.chain_rpc; none: chain reads are off)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    job_input = _read_input(args)
    env = _parse_env(args.env)
    limits = RequestedLimits(args.max_instructions, args.max_memory_mb, args.timeout_s)
    fmt = ResponseFormat(args.format)
    wasm, invalid = _read_module(args.file)
    if invalid is not None:
        return _emit(invalid)
    settings = load_settings()
    if args.rpc:
        guest = settings.executor.guest.model_copy(update={"chain_rpc": args.rpc})
        settings = settings.model_copy(
            update={"executor": settings.executor.model_copy(update={"guest": guest})}
        )
    if args.caller and not is_account_id(args.caller):
        raise invalid_argument(f"--caller {args.caller!r} is not a NEAR account id")
    if args.data_dir is not None:  # the default is made when a guest first needs it
        _check_data_dir(args.data_dir)
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    store = args.store or f"module:{hashlib.sha256(wasm).hexdigest()}"
    services = local_services(settings, wasm, data_dir=data_dir, store=store,
                              caller=args.caller, origin_key=LOCAL_ORIGIN)  # fmt: skip
    with Executor(settings, prestart=False) as executor:
        result = executor.execute(ExecutionJob(wasm, job_input, env, limits, fmt, services))
    return _emit(result)


def _whole_number(text: str) -> int:
    """An argparse type: a whole number, written out or as 1e9."""
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not value.is_finite() or (value and value.adjusted() > 30):  # the caps are far below
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of a sane size")
    if value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def _check_data_dir(path: Path) -> None:
    """Refuses, before the guest runs, a --data-dir that local storage could not be made in
    (a file by that name or above it, a folder this user may not write); it is created (with
    its parents) when the guest first needs it."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise invalid_argument(f"--data-dir {path}: {existing} is not a folder; give a folder "
                               "(it is created if missing)")  # fmt: skip
    if not os.access(existing, os.W_OK | os.X_OK):
        raise invalid_argument(f"--data-dir {path}: {existing} is not writable by this user; "
                               "give a folder you can write")  # fmt: skip


def _emit(result: ExecutionResult) -> int:
    status = 0 if result.ok else 1
    try:
        json.dump(result.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`outlayer run ... | head`): what it read is all it wanted.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return status


def _read_input(args: argparse.Namespace) -> bytes:
    if args.input_file is not None:
        try:
            return bytes(args.input_file.read_bytes())
        except OSError as exc:
            raise invalid_argument(
                f"cannot read --input-file {args.input_file}: {exc.strerror}"
            ) from None
    return args.input.encode() if args.input is not None else b""


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise invalid_argument(f"--env {pair!r} is not KEY=VALUE")
        env[key] = value
    return env


def _read_module(path: Path) -> tuple[bytes, ExecutionResult | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise invalid_argument(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix != ".wat":
        return data, None
    try:
        return bytes(wasmtime.wat2wasm(data.decode("utf-8"))), None
    except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return b"", ExecutionResult.failure(
            ExecutionErrorType.INVALID_WASM, f"{path} is not valid WebAssembly text: {message}"
        )
