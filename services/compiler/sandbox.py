"""Where builds run: a Docker container or a bubblewrap sandbox, with the same guarantees.

Both give a build: no network, memory/CPU/process limits, a wall-clock limit after which it is
killed, a read-only root with only the build folder (``/build``) writable, the host's toolchains
mounted read-only, and an unprivileged user. The build's output is kept (capped) for the hidden
logs only.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from outlayer.config import CompilerSettings
from outlayer.errors import ErrorCode, OutlayerError
from services.compiler.projects import BUILD_ROOT

BUILDER_UID = 10001
MAX_OUTPUT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BuildLimits:
    timeout_seconds: float
    memory_mb: int
    cpus: float
    pids: int

    @classmethod
    def from_settings(cls, settings: CompilerSettings) -> BuildLimits:
        return cls(
            settings.build_timeout_seconds,
            settings.build_memory_mb,
            settings.build_cpus,
            settings.build_pids,
        )


@dataclass(frozen=True)
class SandboxRun:
    exit_code: int | None
    output: str  # stdout and stderr, the last MAX_OUTPUT_BYTES
    timed_out: bool = False
    out_of_memory: bool = False
    cpu_ms: int = 0  # CPU time the build used (all its processes), as the sandbox measured it
    stopped: bool = False  # ended by stop_builds (the compiler is stopping), not by itself


STOPPED = SandboxRun(None, "", stopped=True)  # a run stop_builds ended, or never let start


class Sandbox(Protocol):
    name: str

    def check(self) -> None:
        """Raises a CONFIGURATION error saying what to do when this backend cannot run."""

    def run(
        self,
        build_dir: Path,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        limits: BuildLimits,
        *,
        mounts: Sequence[Path] = (),
    ) -> SandboxRun:
        """Runs ``argv`` with ``build_dir`` mounted at /build (and ``mounts``, read-only, where
        they are on the host)."""

    def sweep_stale(self, older_than_seconds: float) -> int:
        """Removes the sandboxes a compiler that stopped mid-build left behind (older than any
        build may run, so no running compiler's); returns how many."""

    def stop_builds(self) -> int:
        """Ends this sandbox's builds in progress and removes what they ran in (the compiler
        is stopping); their runs return ``stopped``. Returns how many it ended."""


BUILD_LABEL = "outlayer.role"  # every build container carries BUILD_LABEL=build
# ... and the work folder of the compiler that made it: a compiler sweeps only its own (another
# compiler on the same engine may allow its builds longer).
WORK_DIR_LABEL = "outlayer.work_dir"


def sandbox_for(settings: CompilerSettings) -> Sandbox:
    if settings.sandbox == "bwrap":
        return BwrapSandbox(settings.toolchain_mounts)
    labels = {WORK_DIR_LABEL: str(settings.work_dir.resolve())}
    return DockerSandbox(settings.docker_image, settings.toolchain_mounts, labels)


def _make_writable(build_dir: Path) -> str:
    """The user to build as, owning the build folder: the builder uid when we are root."""
    if os.geteuid() != 0:
        return f"{os.getuid()}:{os.getgid()}"
    for root, dirs, files in os.walk(build_dir):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), BUILDER_UID, BUILDER_UID)
    os.chown(build_dir, BUILDER_UID, BUILDER_UID)
    return f"{BUILDER_UID}:{BUILDER_UID}"


class DockerSandbox:
    name = "docker"

    def __init__(
        self, image: str, toolchains: list[Path], labels: dict[str, str] | None = None
    ) -> None:
        """``labels``: more labels on this sandbox's containers, which its sweep then also
        requires (so it sweeps only its own)."""
        self._image = image
        self._toolchains = toolchains
        self._labels = {BUILD_LABEL: "build", **(labels or {})}
        self._lock = threading.Lock()
        self._running: dict[str, Any] = {}  # container id: container, while its build runs
        self._stopping = False

    def _client(self) -> Any:  # docker ships no type hints
        import docker
        from docker.errors import DockerException

        try:
            client = docker.from_env(timeout=30)
            client.ping()
        except DockerException as exc:
            raise OutlayerError(
                ErrorCode.CONFIGURATION,
                f"the Docker Engine is not reachable ({exc}): start it (scripts/setup.sh does "
                'on a development machine), or set compiler.sandbox = "bwrap"',
            ) from None
        return client

    def check(self) -> None:
        from docker.errors import ImageNotFound

        try:
            self._client().images.get(self._image)
        except ImageNotFound:
            raise OutlayerError(
                ErrorCode.CONFIGURATION,
                f"the build image {self._image} is missing: `python -m services.compiler.image` "
                "creates it (scripts/setup.sh runs it)",
            ) from None

    def run(
        self,
        build_dir: Path,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        limits: BuildLimits,
        *,
        mounts: Sequence[Path] = (),
    ) -> SandboxRun:
        import requests
        from docker.errors import APIError
        from docker.types import LogConfig

        client = self._client()
        user = _make_writable(build_dir)
        volumes = {str(t): {"bind": str(t), "mode": "ro"} for t in [*self._toolchains, *mounts]}
        volumes[str(build_dir)] = {"bind": str(BUILD_ROOT), "mode": "rw"}
        container = client.containers.create(
            self._image, argv, working_dir=str(cwd), environment=env, user=user,
            network_mode="none", read_only=True, volumes=volumes,
            mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
            nano_cpus=int(limits.cpus * 1e9), pids_limit=limits.pids,
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            log_config=LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
            labels=self._labels, detach=True,
        )  # fmt: skip
        with self._lock:
            self._running[container.id] = container
            stopping = self._stopping
        try:
            if stopping:
                return STOPPED
            container.start()
            cpu = _DockerCpu(container)
            timed_out = False
            code: int | None
            try:
                code = int(container.wait(timeout=limits.timeout_seconds)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                container.kill()
                timed_out, code = True, None
            if self._stopping and code != 0:  # killed by stop_builds, whatever the code says
                return STOPPED
            container.reload()
            oom = bool(container.attrs["State"].get("OOMKilled"))
            raw: bytes = container.logs(stdout=True, stderr=True)
            output = raw[-MAX_OUTPUT_BYTES:].decode("utf-8", "replace")
            oom = oom or (code == 137 and not timed_out)
            return SandboxRun(code, output, timed_out, oom, cpu.stop())
        except APIError:
            if self._stopping:  # stop_builds removed the container under the build
                return STOPPED
            raise
        finally:
            with self._lock:
                self._running.pop(container.id, None)
            try:
                container.remove(force=True)
            except APIError:
                if not self._stopping:
                    raise
                # stop_builds removed it, or is removing it (Docker: 404, or 409 in progress)

    def stop_builds(self) -> int:
        from docker.errors import APIError

        with self._lock:
            self._stopping = True  # a build starting from now on does not start
            running = list(self._running.values())
        for container in running:
            with contextlib.suppress(APIError):  # it ended, and was removed, meanwhile
                container.remove(force=True)
        return len(running)

    def sweep_stale(self, older_than_seconds: float) -> int:
        """A compiler killed mid-build leaves its container running (or exited, never
        removed); a live compiler removes each of its own within a build's timeout."""
        from docker.errors import APIError

        client = self._client()
        filters = {"label": [f"{key}={value}" for key, value in self._labels.items()]}
        cutoff = time.time() - older_than_seconds
        removed = 0
        # sparse: the list's own summaries (their "Created" in unix seconds), no inspect each
        for container in client.containers.list(all=True, filters=filters, sparse=True):
            if int(container.attrs["Created"]) < cutoff:
                with contextlib.suppress(APIError):  # being removed, or gone, meanwhile
                    container.remove(force=True)
                    removed += 1
        return removed


class _DockerCpu:
    """A running container's CPU time, sampled from its stats stream until it stops (Docker
    forgets a container's usage once it has exited)."""

    def __init__(self, container: Any) -> None:
        self._nanoseconds = 0
        self._thread = threading.Thread(target=self._follow, args=(container,), daemon=True)
        self._thread.start()

    def _follow(self, container: Any) -> None:
        with contextlib.suppress(Exception):  # the stream ends (or fails) with the container
            for stats in container.stats(stream=True, decode=True):
                usage = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0)
                self._nanoseconds = max(self._nanoseconds, int(usage or 0))

    def stop(self) -> int:
        self._thread.join(timeout=2)
        return self._nanoseconds // 1_000_000


class BwrapSandbox:
    name = "bwrap"

    def __init__(self, toolchains: list[Path]) -> None:
        self._toolchains = toolchains

    def check(self) -> None:
        if shutil.which("bwrap") is None:
            raise OutlayerError(
                ErrorCode.CONFIGURATION,
                "bubblewrap is not installed: `apt-get install bubblewrap` (or use the docker "
                "sandbox)",
            )
        _Cgroup.check()

    def sweep_stale(self, older_than_seconds: float) -> int:
        return 0  # --die-with-parent: a build never outlives its compiler

    def stop_builds(self) -> int:
        return 0  # --die-with-parent: its builds end with the compiler's process

    def run(
        self,
        build_dir: Path,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        limits: BuildLimits,
        *,
        mounts: Sequence[Path] = (),
    ) -> SandboxRun:
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        for toolchain in [*self._toolchains, *mounts]:
            command += ["--ro-bind", str(toolchain), str(toolchain)]
        for link in ("bin", "lib", "lib64", "sbin"):
            if Path(f"/usr/{link}").exists():
                command += ["--symlink", f"usr/{link}", f"/{link}"]
        command += [
            "--bind", str(build_dir), str(BUILD_ROOT), "--proc", "/proc", "--dev", "/dev",
            "--remount-ro", "/", "--uid", str(BUILDER_UID), "--gid", str(BUILDER_UID),
            "--chdir", str(cwd),
        ]  # fmt: skip
        for key, value in env.items():
            command += ["--setenv", key, value]
        command += ["--", *argv]
        cgroup = _Cgroup(limits)
        try:
            return _run_killable(command, cgroup, limits.timeout_seconds)
        finally:
            cgroup.remove()


def _run_killable(command: list[str], cgroup: _Cgroup, timeout: float) -> SandboxRun:
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        # preexec_fn only writes our pid into the cgroup: nothing that could deadlock on a lock.
        start_new_session=True, preexec_fn=cgroup.enter, env={"PATH": "/usr/bin:/bin"},  # noqa: PLW1509
    )  # fmt: skip
    stream = process.stdout
    assert isinstance(stream, io.BufferedReader)
    tail = bytearray()

    def drain() -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            tail.extend(chunk)
            del tail[:-MAX_OUTPUT_BYTES]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        code: int | None = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        cgroup.kill()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = None
    reader.join(timeout=5)
    output = bytes(tail).decode("utf-8", "replace")
    return SandboxRun(code, output, timed_out, cgroup.out_of_memory(), cgroup.cpu_ms())


class _Cgroup:
    """A memory and pids cgroup for one build (v2, or v1's memory and pids controllers)."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, limits: BuildLimits) -> None:
        name = f"outlayer-build-{uuid.uuid4().hex[:12]}"
        if self._v2():
            self.dirs = [self.ROOT / name]
            self.dirs[0].mkdir()
            (self.dirs[0] / "memory.max").write_text(str(limits.memory_mb * 2**20))
            (self.dirs[0] / "memory.swap.max").write_text("0")
            (self.dirs[0] / "pids.max").write_text(str(limits.pids))
        else:
            memory, pids = self.ROOT / "memory" / name, self.ROOT / "pids" / name
            memory.mkdir()
            pids.mkdir()
            self.dirs = [memory, pids]
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory_mb * 2**20))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(limits.memory_mb * 2**20))
            (pids / "pids.max").write_text(str(limits.pids))

    @classmethod
    def _v2(cls) -> bool:
        return (cls.ROOT / "cgroup.controllers").is_file()

    @classmethod
    def check(cls) -> None:
        wanted = [cls.ROOT] if cls._v2() else [cls.ROOT / "memory", cls.ROOT / "pids"]
        for folder in wanted:
            if not os.access(folder, os.W_OK):
                raise OutlayerError(
                    ErrorCode.CONFIGURATION,
                    f"the bwrap sandbox limits builds with cgroups, but {folder} is not writable: "
                    "run the compiler as root or delegate a cgroup to it",
                )

    def enter(self) -> None:  # in the child, before exec: everything it starts stays inside
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def kill(self) -> None:
        for folder in self.dirs:
            for pid in (folder / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)

    def out_of_memory(self) -> bool:
        folder = self.dirs[0]
        events = folder / ("memory.events" if self._v2() else "memory.oom_control")
        for line in events.read_text().splitlines():
            name, _, count = line.partition(" ")
            if name == "oom_kill" and int(count) > 0:
                return True
        return False

    def cpu_ms(self) -> int:
        """v2's cpu.stat (always there); v1 has no cpuacct group here: 0."""
        stat = self.dirs[0] / "cpu.stat"
        if not self._v2() or not stat.is_file():
            return 0
        for line in stat.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "usage_usec":
                return int(value) // 1000
        return 0

    def remove(self) -> None:
        for folder in self.dirs:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:  # processes still leaving
                    self.kill()
                    time.sleep(0.05)
