"""The compiler's engine: answer from the cache, or build once in the background.

``compile`` never waits for a build unless asked: a miss starts the build (one per source, however
many ask) and answers ``compilation_in_progress`` with an estimate. Failures that a rebuild
would repeat are remembered for a while; transient ones (the network) are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from outlayer.config import CompilerSettings
from outlayer.errors import ExecutionErrorType as Category
from outlayer.fetch_hosts import FETCH_SECTION, custom_section, with_fetch_section
from outlayer.telemetry import meter
from services.compiler.cache import CacheEntry, ModuleCache
from services.compiler.deps_http import FetchReport, Progress
from services.compiler.failures import BuildFailure
from services.compiler.git import GitRemote
from services.compiler.projects import SOURCE_DIR, Recipe, detect
from services.compiler.sandbox import BuildLimits, Sandbox, sandbox_for
from services.compiler.sources import Source, parse_source
from services.compiler.std_seeds import StdSeeds, toolchain_tag

READY, IN_PROGRESS, FAILED = "ready", "compilation_in_progress", "failed"
DEFAULT_ESTIMATE_S = 30.0
MAX_RETRY_AFTER_S = 30.0
_LOG = logging.getLogger("outlayer.compiler")
_METER = meter("outlayer.compiler")
_BUILDS = _METER.create_counter("outlayer.compiler.builds", description="builds, by outcome")
_BUILD_SECONDS = _METER.create_histogram("outlayer.compiler.build_time", unit="s")
_LOOKUPS = _METER.create_counter("outlayer.compiler.lookups", description="cache hits and misses")


@dataclass(frozen=True)
class CompileOutcome:
    status: str
    source: Source
    entry: CacheEntry | None = None
    failure: BuildFailure | None = None
    estimated_seconds: float = 0.0
    retry_after_seconds: float = 0.0
    phase: str = ""
    started_build: bool = False  # this call started the build (its request pays for it)

    def to_json(self) -> dict[str, Any]:
        """The object ``outlayer compile`` prints."""
        failure = self.failure
        return compile_json(
            self.status,
            self.source,
            self.entry.checksum if self.entry else "",
            self.entry.size_bytes if self.entry else 0,
            None if failure is None else (failure.category.value, failure.message),
            estimated_seconds=self.estimated_seconds,
            retry_after_seconds=self.retry_after_seconds,
            phase=self.phase,
            build=self.entry.build if self.entry else None,
        )


def compile_json(
    status: str,
    source: Source,
    checksum: str,
    size_bytes: int,
    error: tuple[str, str] | None,
    *,
    estimated_seconds: float = 0.0,
    retry_after_seconds: float = 0.0,
    phase: str = "",
    build: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A compile result as JSON, the same from the engine and from the service's reply."""
    shown_source: dict[str, Any] = {"repo": source.repo, "commit": source.commit or None}
    if source.branch:
        shown_source["branch"] = source.branch
    if source.tag:
        shown_source["tag"] = source.tag
    data: dict[str, Any] = {
        "status": status,
        "checksum": f"sha256:{checksum}" if checksum else None,
        "size_bytes": size_bytes if checksum else None,
        "source": shown_source,
        "error": None if error is None else {"type": error[0], "message": error[1]},
    }
    if status == IN_PROGRESS:
        data["estimated_seconds"] = estimated_seconds
        data["retry_after_seconds"] = retry_after_seconds
        data["cache_key"] = source.cache_key
        data["phase"] = phase
    if status == READY and build:
        data["build"] = build
    return data


@dataclass
class _Build:
    source: Source
    started: float
    estimate: float
    future: Future[CacheEntry] = field(default_factory=Future)
    phase: str = "queued"


class Compiler:
    def __init__(self, settings: CompilerSettings, sandbox: Sandbox | None = None) -> None:
        self.settings = settings
        self.cache = ModuleCache(settings.cache_dir)
        self.git = GitRemote(
            timeout_seconds=settings.fetch_timeout_seconds,
            max_source_bytes=settings.max_source_mb * 2**20,
            ref_ttl_seconds=settings.ref_ttl_seconds,
            mirrors=settings.git_mirrors,
        )
        self.sandbox = sandbox or sandbox_for(settings)
        self._limits = BuildLimits.from_settings(settings)
        tag = toolchain_tag(self.sandbox.name, settings.docker_image)
        self._std = StdSeeds(settings.work_dir / "std-seeds", self._limits, tag)
        self._pool = ThreadPoolExecutor(settings.max_concurrent_builds, "build")
        self._lock = threading.Lock()
        self._building: dict[str, _Build] = {}
        self._failed: dict[str, tuple[float, BuildFailure]] = {}
        self._recent_seconds: list[float] = []
        self._seconds_by_repo: dict[str, float] = {}  # the last build of each repository
        self._wasm_engine = wasmtime.Engine()
        # Told each build phase as it starts (``outlayer compile --local`` shows them).
        self.listener: Callable[[str], None] | None = None
        self._sweep_stale_builds()

    def _sweep_stale_builds(self) -> None:
        """Build folders and sandboxes left by a compiler that stopped mid-build (older than
        any build may run) are removed; a build never resumes."""
        stale_after = 2 * self.settings.build_timeout_seconds
        cutoff = time.time() - stale_after
        folders = [
            *self.settings.work_dir.glob("?" * 32 + "-????????"),  # <cache key>-<random>
            *self.settings.work_dir.glob("std-seeds/.building-*"),
        ]
        for folder in folders:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        try:
            swept = self.sandbox.sweep_stale(stale_after)
        except Exception as exc:  # the sandbox cannot run at all: check() says why, at start
            _LOG.warning("could not sweep stale build sandboxes: %s", exc)
            return
        if swept:
            _LOG.info("removed %d build sandbox(es) a stopped compiler left behind", swept)

    def close(self) -> None:
        """Builds not started are dropped and those in progress end with their sandboxes
        removed (the process may exit next: nothing of a build outlives it)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        try:
            stopped = self.sandbox.stop_builds()
        except Exception as exc:  # the engine went away first: the next start sweeps them
            _LOG.warning("could not stop the builds in progress: %s", exc)
            return
        if stopped:
            _LOG.info("stopped %d build(s) in progress", stopped)

    # --- the public operation -----------------------------------------------------------------
    def compile(
        self,
        repo: str,
        commit: str = "",
        branch: str = "",
        tag: str = "",
        *,
        for_execution: bool = False,
        wait_seconds: float | None = 0.0,
    ) -> CompileOutcome:
        """``wait_seconds``: 0 answers at once; None waits for the build however long."""
        asked = Source(repo, commit, branch, tag)
        try:
            source = parse_source(repo, commit, branch, tag, self.settings.allowed_hosts)
            source = self.git.resolve(source)
        except BuildFailure as failure:
            _LOG.info("refused %s: %s", asked.describe(), failure.category.value)
            return CompileOutcome(FAILED, asked, failure=failure)
        hit = self.cache.lookup(source)
        if hit is not None:
            _LOOKUPS.add(1, {"result": "hit"})
            if for_execution:
                hit = self.cache.record_use(hit.checksum, time.time()) or hit
            return CompileOutcome(READY, source, entry=hit)
        _LOOKUPS.add(1, {"result": "miss"})
        with self._lock:
            remembered = self._failed.get(source.cache_key)
            if remembered and time.monotonic() - remembered[0] < self.settings.failure_ttl_seconds:
                return CompileOutcome(FAILED, source, failure=remembered[1])
            build = self._building.get(source.cache_key)
            started = build is None
            if build is None:
                build = self._start(source)
        if wait_seconds is None or wait_seconds > 0:
            with contextlib.suppress(FutureTimeout, BuildFailure):
                build.future.result(timeout=wait_seconds)
        return dataclasses.replace(self._outcome(build), started_build=started)

    def build_now(
        self, repo: str, commit: str = "", branch: str = "", tag: str = ""
    ) -> CompileOutcome:
        """Compiles and waits however long the build takes (``outlayer compile --local``)."""
        return self.compile(repo, commit, branch, tag, wait_seconds=None)

    # --- background builds --------------------------------------------------------------------
    def _start(self, source: Source) -> _Build:
        build = _Build(source, time.monotonic(), self._estimate(source.repo))
        self._building[source.cache_key] = build
        self._pool.submit(self._run, build)
        _LOG.info("building %s", source.describe())
        return build

    def _run(self, build: _Build) -> None:
        began = time.monotonic()

        def progress(phase: str) -> None:
            build.phase = phase
            if self.listener is not None:
                self.listener(phase)

        try:
            entry = self._build(build.source, progress)
        except BuildFailure as failure:
            _BUILDS.add(1, {"outcome": failure.category.value})
            _LOG.info("build of %s failed: %s", build.source.describe(), failure.category.value)
            with self._lock:
                if not failure.transient:
                    self._remember(build.source.cache_key, failure)
                del self._building[build.source.cache_key]
            build.future.set_exception(failure)
            return
        except Exception as exc:  # a bug or the host: never leave callers waiting forever
            _LOG.exception("build of %s crashed", build.source.describe())
            crashed = BuildFailure(
                Category.COMPILATION_ERROR,
                "the compiler failed internally; operators have been told (try again later)",
                transient=True,
                hidden_log=repr(exc),
            )
            with self._lock:
                del self._building[build.source.cache_key]
            build.future.set_exception(crashed)
            return
        seconds = time.monotonic() - began
        _BUILDS.add(1, {"outcome": "ready"})
        _BUILD_SECONDS.record(seconds)
        _LOG.info("built %s in %.1f s: sha256:%s", build.source.describe(), seconds, entry.checksum)
        with self._lock:
            self._recent_seconds = [*self._recent_seconds[-19:], seconds]
            self._seconds_by_repo[build.source.repo] = seconds
            del self._building[build.source.cache_key]
        build.future.set_result(entry)

    def _outcome(self, build: _Build) -> CompileOutcome:
        if build.future.done():
            error = build.future.exception()
            if isinstance(error, BuildFailure):
                return CompileOutcome(FAILED, build.source, failure=error)
            return CompileOutcome(READY, build.source, entry=build.future.result())
        elapsed = time.monotonic() - build.started
        remaining = max(build.estimate - elapsed, 1.0)
        return CompileOutcome(
            IN_PROGRESS,
            build.source,
            estimated_seconds=round(build.estimate, 1),
            retry_after_seconds=round(min(remaining, MAX_RETRY_AFTER_S), 1),
            phase=build.phase,
        )

    def _estimate(self, repo: str) -> float:
        """The repository's last build time, else the mean of recent builds (C builds take
        a second, a Rust crate's first build half a minute: the repository tells best)."""
        if repo in self._seconds_by_repo:
            return self._seconds_by_repo[repo]
        recent = self._recent_seconds
        return sum(recent) / len(recent) if recent else DEFAULT_ESTIMATE_S

    def _remember(self, key: str, failure: BuildFailure) -> None:
        now = time.monotonic()
        ttl = self.settings.failure_ttl_seconds
        for stale in [k for k, (at, _) in self._failed.items() if now - at >= ttl]:
            del self._failed[stale]
        self._failed[key] = (now, failure)

    # --- one build ----------------------------------------------------------------------------
    def _build(self, source: Source, progress: Progress = lambda _: None) -> CacheEntry:
        began = time.monotonic()
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        work = self.settings.work_dir / f"{source.cache_key}-{uuid.uuid4().hex[:8]}"
        try:
            source_dir = work / "src"
            source_dir.mkdir(parents=True)
            progress("fetching the source")
            self.git.fetch(source, source_dir)
            ignored = _drop_prebuilt(source_dir)
            recipe = detect(source_dir)
            for name, text in recipe.files.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(text)
            (work / ".home").mkdir()
            report = FetchReport()
            if recipe.fetch is not None:
                progress("fetching dependencies")
                report, extra_args = recipe.fetch(work, self.settings, progress)
                recipe.argv += extra_args
            progress("building")
            self._std.plant(recipe, work, self.sandbox)  # Rust: a prebuilt std, copied in
            built = time.monotonic()
            run = self.sandbox.run(work, recipe.argv, recipe.env, recipe.cwd, self._limits,
                                   mounts=recipe.mounts)  # fmt: skip
            build_seconds = time.monotonic() - built
            if run.stopped:
                raise BuildFailure(
                    Category.COMPILATION_ERROR,
                    "the compiler stopped during the build; ask again and it is built anew",
                    transient=True,  # not remembered: nothing is wrong with the source
                )
            if run.timed_out:
                raise BuildFailure(
                    Category.COMPILATION_ERROR,
                    f"the build ran past its {self._limits.timeout_seconds:.0f} s limit and was "
                    "stopped",
                    hidden_log=run.output,
                )
            if run.exit_code != 0 and run.out_of_memory:
                raise BuildFailure(
                    Category.COMPILATION_ERROR,
                    f"the build ran out of memory (limit {self._limits.memory_mb} MiB)",
                    hidden_log=run.output,
                )
            if run.exit_code != 0:
                raise recipe.classify(run.output)
            progress("validating the module")
            wasm = self._read_module(recipe.locate(work), work)
            if recipe.fetch_hosts:
                wasm = _declare_fetch_hosts(wasm, list(recipe.fetch_hosts))
            info = _build_info(recipe, report, work, ignored=ignored, build_seconds=build_seconds,
                               cpu_ms=run.cpu_ms)  # fmt: skip
            return self.cache.put(source, wasm, time.time(), time.monotonic() - began, info)
        finally:
            _remove(work)

    def _read_module(self, path: Path, work: Path) -> bytes:
        limit = self.settings.max_wasm_mb * 2**20
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # never a link out of /build
        except OSError:
            raise BuildFailure(
                Category.COMPILATION_ERROR,
                f"the build's output {path.relative_to(work)} is not a regular file",
            ) from None
        with os.fdopen(descriptor, "rb") as handle:
            wasm = handle.read(limit + 1)
        if len(wasm) > limit:
            raise BuildFailure(
                Category.COMPILATION_ERROR,
                f"the module is larger than this platform's limit of {self.settings.max_wasm_mb} "
                "MiB",
            )
        try:
            wasmtime.Module.validate(self._wasm_engine, wasm)
        except wasmtime.WasmtimeError:
            raise BuildFailure(
                Category.COMPILATION_ERROR, "the build's output is not a valid WebAssembly module"
            ) from None
        return wasm


def _declare_fetch_hosts(wasm: bytes, hosts: list[str]) -> bytes:
    """outlayer.toml's fetch hosts, as the module's outlayer.fetch section: one place only, so
    no reader has to decide which of two lists counts."""
    if custom_section(wasm, FETCH_SECTION) is not None:
        raise BuildFailure(
            Category.COMPILATION_ERROR,
            f"the module declares its own {FETCH_SECTION} section and outlayer.toml lists "
            "[capabilities] fetch_hosts too: declare the hosts in one place",
        )
    return with_fetch_section(wasm, hosts)


def _drop_prebuilt(source_dir: Path) -> list[str]:
    """Committed .wasm files are ignored (removed from the build's copy): the module is always
    the one built from source, so anyone can audit it. Returns what was dropped."""
    dropped = []
    for path in sorted(source_dir.rglob("*.wasm")):
        if path.is_file() or path.is_symlink():
            dropped.append(str(path.relative_to(source_dir)))
            path.unlink()
    if dropped:
        _LOG.info("ignoring %d committed .wasm file(s): %s", len(dropped), ", ".join(dropped[:3]))
    return dropped


def _build_info(
    recipe: Recipe,
    report: FetchReport,
    work: Path,
    *,
    ignored: list[str],
    build_seconds: float,
    cpu_ms: int,
) -> dict[str, Any]:
    """The build's metadata, kept with the module (BuildInfo on the wire)."""
    project = work / "src" / recipe.cwd.relative_to(SOURCE_DIR)
    lockfile = project / recipe.lockfile if recipe.lockfile else None
    lock_hash = ""
    if lockfile is not None and lockfile.is_file():
        lock_hash = hashlib.sha256(lockfile.read_bytes()).hexdigest()
    notes = list(report.notes)
    if ignored:
        notes.append(f"ignored {len(ignored)} committed .wasm file(s): built from source")
    return {
        "language": recipe.language,
        "toolchain": recipe.toolchain,
        "lockfile_sha256": lock_hash,
        "lockfile_reresolved": report.lockfile_reresolved,
        "fetch_seconds": round(report.seconds, 3),
        "build_seconds": round(build_seconds, 3),
        "packages_fetched": report.packages,
        "fetched_bytes": report.bytes,
        "ignored_prebuilt": ignored,
        "notes": notes,
        # What a compilation fee is priced by: the sandbox's CPU time, else the wall clock.
        "compile_ms": cpu_ms or round(build_seconds * 1000),
        "registry": report.registry,
    }


def _remove(folder: Path) -> None:
    """Removes a build folder, read-only parts too (Go's module cache is made read-only)."""

    def writable(function: Any, path: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o755)
            os.chmod(path, 0o755)
            function(path)

    shutil.rmtree(folder, onerror=writable)
