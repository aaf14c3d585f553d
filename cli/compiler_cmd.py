"""``outlayer compiler serve``, ``outlayer compile SOURCE`` and ``outlayer cache list|evict``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from cli.services import add_service
from outlayer.config import Settings, load_settings
from outlayer.errors import ErrorCode, OutlayerError, error_from_rpc, invalid_argument

POLL_SECONDS = 1.0
STATUS_NAMES = {1: "ready", 2: "compilation_in_progress", 3: "failed"}


def register(commands: Any) -> None:
    add_service(
        commands, "compiler", "the compiler service (sources -> sandboxed builds -> cached WASM)",
        "serve over gRPC until stopped",
    )  # fmt: skip

    compile_: argparse.ArgumentParser = commands.add_parser(
        "compile", help="compile a repository at a commit (prints one JSON object)"
    )
    compile_.add_argument("source", metavar="SOURCE", help="https://github.com/OWNER/REPO")
    ref = compile_.add_mutually_exclusive_group(required=True)
    ref.add_argument("--commit", default="", metavar="SHA")
    ref.add_argument("--branch", default="", metavar="B")
    ref.add_argument("--tag", default="", metavar="T")
    compile_.add_argument("--wait", action="store_true", help="wait for the build to finish")
    compile_.add_argument(
        "--local", action="store_true", help="build in this process, with the same sandbox"
    )
    compile_.add_argument("--compiler", metavar="HOST:PORT", help="default: compiler.listen")
    compile_.add_argument("--output", metavar="FILE", help="write the built module to FILE")
    compile_.set_defaults(handler=compile_command)

    cache: argparse.ArgumentParser = commands.add_parser(
        "cache", help="operators: the compiler's module cache"
    )
    cache_actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = cache_actions.add_parser("list", help="cached modules, as JSON")
    evict = cache_actions.add_parser("evict", help="remove one module from the cache")
    evict.add_argument("checksum", metavar="CHECKSUM", help="sha256:... or 64 hex")
    for sub in (listing, evict):
        sub.add_argument("--local", action="store_true", help="the cache folder on this machine")
        sub.add_argument("--compiler", metavar="HOST:PORT", help="default: compiler.listen")
    listing.set_defaults(handler=cache_list_command)
    evict.set_defaults(handler=cache_evict_command)


def _channel(settings: Settings, target: str | None) -> Any:
    from outlayer.grpcclient import open_channel
    from outlayer.v1 import compiler_pb2_grpc

    channel = open_channel(target or settings.compiler.listen, settings.tls, "operator", "compiler")
    return compiler_pb2_grpc.CompilerServiceStub(channel)


def compile_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.local:
        from services.compiler.builder import Compiler

        compiler = Compiler(_local_registries(settings).compiler)
        compiler.sandbox.check()
        with _Progress(args.source, enabled=sys.stderr.isatty()) as progress:
            compiler.listener = progress.show
            outcome = compiler.build_now(args.source, args.commit, args.branch, args.tag)
        result = outcome.to_json()
        if args.output and outcome.entry is not None:
            wasm = compiler.cache.read(outcome.entry.checksum)
            if wasm is not None:
                _write_module(args.output, wasm)
        compiler.close()
    else:
        result = _compile_remote(settings, args)
    print(json.dumps(result, indent=2))
    if result["status"] == "ready" and args.output:
        print(f"wrote the module to {args.output}", file=sys.stderr)
    return 1 if result["status"] == "failed" else 0


def _local_registries(settings: Settings) -> Settings:
    """``--local`` on a development machine: when the configured crate registry cannot be
    reached, Debian's packaged crates are served as one, as the dev stack does."""
    import httpx

    from devtools.crate_mirror import DEBIAN_CRATES, start_debian_mirror

    registries = settings.compiler.registries
    url = registries.crates.removeprefix("sparse+").rstrip("/") + "/config.json"
    try:
        httpx.get(url, timeout=3.0).raise_for_status()
        return settings
    except httpx.HTTPError:
        if not DEBIAN_CRATES.is_dir():
            return settings  # the fetch phase will say the registry is unreachable
    mirror = start_debian_mirror()
    print(f"outlayer compile: {registries.crates} is not reachable; using the development crate "
          f"registry (Debian's {len(mirror.registry)} crates) at {mirror.index_url}",
          file=sys.stderr)  # fmt: skip
    compiler = settings.compiler.model_copy(update={
        "registries": registries.model_copy(update={"crates": mirror.index_url}),
        "allow_lock_reresolution": True,
    })  # fmt: skip
    return settings.model_copy(update={"compiler": compiler})


def _write_module(path: str, wasm: bytes) -> None:
    import os
    from pathlib import Path

    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(wasm)
        os.replace(partial, target)
    except OSError as exc:
        raise invalid_argument(f"cannot write the module to {path}: {exc.strerror}") from None


def _compile_remote(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    import grpc

    from outlayer.v1 import compiler_pb2 as pb

    stub = _channel(settings, args.compiler)
    request = pb.CompileRequest(
        source=pb.SourceRef(repo=args.source, commit=args.commit, branch=args.branch, tag=args.tag)
    )
    with _Progress(args.source, enabled=args.wait and sys.stderr.isatty()) as progress:
        while True:
            try:
                reply = stub.Compile(request, timeout=60)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc, "the compiler") from None
            if not args.wait or reply.status != pb.COMPILE_STATUS_IN_PROGRESS:
                break
            progress.estimate = reply.estimated_seconds
            progress.show(reply.phase)
            time.sleep(POLL_SECONDS)
    if args.output and reply.status == pb.COMPILE_STATUS_READY:
        try:
            chunks = stub.GetModule(pb.GetModuleRequest(checksum=reply.checksum), timeout=120)
            _write_module(args.output, b"".join(chunk.data for chunk in chunks))
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
    return reply_json(reply)


def reply_json(reply: Any) -> dict[str, Any]:
    """A CompileReply as the JSON object ``outlayer compile`` prints."""
    from services.compiler.builder import compile_json
    from services.compiler.sources import Source

    ref = reply.source
    error = (reply.error.type, reply.error.message) if reply.HasField("error") else None
    from services.compiler.service import build_json

    return compile_json(
        STATUS_NAMES.get(reply.status, "failed"),
        Source(ref.repo, ref.commit, ref.branch, ref.tag),
        reply.checksum,
        reply.size_bytes,
        error,
        estimated_seconds=reply.estimated_seconds,
        retry_after_seconds=reply.retry_after_seconds,
        phase=reply.phase,
        build=build_json(reply.build) if reply.HasField("build") else None,
    )


class _Progress:
    """A one-line progress display on a terminal: elapsed time against the estimate."""

    def __init__(self, what: str, enabled: bool) -> None:
        self.what, self.enabled, self.estimate, self.phase = what, enabled, 0.0, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw, daemon=True)

    def show(self, phase: str) -> None:
        """A new phase: drawn on the line, and one line each when stderr is not a terminal
        (so logs of a long build show its phases too)."""
        if phase and phase != self.phase and not self.enabled:
            print(f"outlayer compile: {phase}", file=sys.stderr, flush=True)
        self.phase = phase

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
            sys.stderr.write("\r\033[K")

    def _draw(self) -> None:
        began = time.monotonic()
        while not self._stop.wait(0.25):
            elapsed = time.monotonic() - began
            of = f" of ~{self.estimate:.0f} s" if self.estimate else ""
            phase = f" ({self.phase})" if self.phase else ""
            sys.stderr.write(f"\r\033[Kcompiling {self.what}: {elapsed:.0f} s{of}{phase}")
            sys.stderr.flush()


def cache_list_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.local:
        from services.compiler.cache import ModuleCache

        entries = [entry.to_json() for entry in ModuleCache(settings.compiler.cache_dir).entries()]
    else:
        import grpc
        from google.protobuf import json_format

        from outlayer.v1 import compiler_pb2 as pb

        try:
            reply = _channel(settings, args.compiler).ListCache(pb.ListCacheRequest(), timeout=30)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
        entries = [
            json_format.MessageToDict(e, preserving_proto_field_name=True) for e in reply.entries
        ]
    total = sum(int(e["size_bytes"]) for e in entries)
    print(json.dumps({"entries": entries, "total_bytes": total}, indent=2))
    return 0


def cache_evict_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    checksum = args.checksum.removeprefix("sha256:")
    if len(checksum) != 64:
        raise invalid_argument(f"{args.checksum!r} is not a module checksum (sha256:<64 hex>)")
    if args.local:
        from services.compiler.cache import ModuleCache

        evicted = ModuleCache(settings.compiler.cache_dir).evict(checksum)
    else:
        import grpc

        from outlayer.v1 import compiler_pb2 as pb

        try:
            reply = _channel(settings, args.compiler).Evict(
                pb.EvictRequest(checksum=checksum), timeout=30
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
        evicted = reply.evicted
    print(json.dumps({"checksum": f"sha256:{checksum}", "evicted": evicted}))
    if not evicted:
        raise OutlayerError(
            ErrorCode.NOT_FOUND,
            f"sha256:{checksum} was not in the cache (`outlayer cache list` shows what is)",
        )
    return 0
