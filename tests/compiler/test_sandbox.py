"""Both sandboxes, the same guarantees: no network, memory and time limits, a read-only root
with only /build writable, an unprivileged user, none of the host's environment."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outlayer.config import CompilerSettings
from services.compiler.projects import BUILD_ROOT
from services.compiler.sandbox import (
    BUILD_LABEL,
    BUILDER_UID,
    WORK_DIR_LABEL,
    BuildLimits,
    Sandbox,
    sandbox_for,
)

LIMITS = BuildLimits(timeout_seconds=30, memory_mb=256, cpus=1, pids=64)
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/build"}


@pytest.fixture(params=["docker", "bwrap"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    chosen = sandbox_for(CompilerSettings(sandbox=request.param))
    chosen.check()
    return chosen


def run(
    sandbox: Sandbox, tmp_path: Path, script: str, limits: BuildLimits = LIMITS
) -> tuple[int | None, str]:
    build = tmp_path / "build"
    build.mkdir(exist_ok=True)
    done = sandbox.run(build, ["bash", "-c", script], ENV, BUILD_ROOT, limits)
    return done.exit_code, done.output


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP server on the host's own address (reachable from the host, as the probe shows)."""
    host = socket.gethostbyname(socket.gethostname())
    if host.startswith("127."):
        host = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                              check=False).stdout.split()[0]  # fmt: skip
    server = socket.create_server(("0.0.0.0", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield host, port
    stop.set()
    thread.join()
    server.close()


def test_the_network_is_unreachable(
    sandbox: Sandbox, tmp_path: Path, listener: tuple[str, int]
) -> None:
    host, port = listener
    probe = f"echo hi > /dev/tcp/{host}/{port} && echo CONNECTED"
    on_host = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=False)
    assert "CONNECTED" in on_host.stdout  # the probe works where there is a network
    code, output = run(sandbox, tmp_path, probe + "; echo done")
    assert code == 0 and "done" in output
    assert "CONNECTED" not in output


def test_only_the_build_folder_is_writable(sandbox: Sandbox, tmp_path: Path) -> None:
    script = (
        "for f in /usr/x /etc/x /x /tmp/x; do touch $f 2>/dev/null && echo WROTE $f; done; "
        "touch /build/ok && echo BUILD-OK; id -u"
    )
    code, output = run(sandbox, tmp_path, script)
    assert code == 0, output
    assert "WROTE" not in output
    assert "BUILD-OK" in output and (tmp_path / "build" / "ok").exists()
    expected_uid = BUILDER_UID if os.geteuid() == 0 else os.getuid()
    assert output.split()[-1] == str(expected_uid)  # never root


def test_the_host_environment_is_not_visible(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTLAYER_PLANTED_HOST_SECRET", "planted-4242")
    _code, output = run(sandbox, tmp_path, "env; cat /etc/passwd 2>&1; ls /root 2>&1")
    assert "planted-4242" not in output
    host_root = Path("/etc/passwd").read_text().splitlines()[0]
    assert host_root not in output  # the host's /etc is not there


def test_the_memory_limit_kills_the_build(sandbox: Sandbox, tmp_path: Path) -> None:
    hog = "python3 -c \"b = b'x' * (512 * 1024 * 1024); print(len(b))\""
    build = tmp_path / "build"
    build.mkdir()
    done = sandbox.run(build, ["bash", "-c", hog], ENV, BUILD_ROOT, LIMITS)
    assert done.exit_code != 0
    assert done.out_of_memory
    assert str(512 * 1024 * 1024) not in done.output


def test_the_time_limit_kills_the_build(sandbox: Sandbox, tmp_path: Path) -> None:
    began = time.monotonic()
    build = tmp_path / "build"
    build.mkdir()
    limits = BuildLimits(timeout_seconds=1.5, memory_mb=256, cpus=1, pids=64)
    done = sandbox.run(build, ["bash", "-c", "sleep 60 & sleep 60; echo AWAKE"], ENV,
                       BUILD_ROOT, limits)  # fmt: skip
    assert done.timed_out and done.exit_code is None
    assert "AWAKE" not in done.output
    assert time.monotonic() - began < 20


def test_output_is_capped(sandbox: Sandbox, tmp_path: Path) -> None:
    code, output = run(sandbox, tmp_path, "head -c 5000000 /dev/zero | tr '\\0' x; echo END")
    assert code == 0
    assert len(output.encode()) <= 1024 * 1024 and output.rstrip().endswith("END")


def test_the_process_limit_stops_a_fork_bomb(sandbox: Sandbox, tmp_path: Path) -> None:
    bomb = (
        "import os, time\n"
        "born = 0\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5)\n"
        "            os._exit(0)\n"
        "        born += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print('BORN', born)\n"
    )
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "bomb.py").write_text(bomb)
    limits = BuildLimits(timeout_seconds=30, memory_mb=256, cpus=1, pids=32)
    done = sandbox.run(tmp_path / "build", ["python3", "bomb.py"], ENV, BUILD_ROOT, limits)
    born = int(done.output.split("BORN")[1].split()[0])
    assert 0 < born < 32


def own_folders(root: Path, **settings: Any) -> CompilerSettings:
    """A compiler's settings with its folders in ``root``, none in the user's home."""
    return CompilerSettings(
        work_dir=root, cache_dir=root / "wasm", package_cache_dir=root / "packages", **settings
    )


def test_build_containers_a_stopped_compiler_left_are_swept_and_no_others(
    tmp_path: Path,
) -> None:
    """A compiler killed mid-build leaves its container (running, or exited and never removed):
    one of its own older than any build may run is removed, by the sandbox's sweep and by a
    compiler as it starts; a younger one, another compiler's, or one not a build's is kept."""
    import docker
    from docker.errors import NotFound

    from services.compiler.builder import Compiler

    settings = own_folders(tmp_path, sandbox="docker", build_timeout_seconds=0.5)
    sandbox = sandbox_for(settings)
    sandbox.check()
    client = docker.from_env()
    test = {"outlayer.test": uuid.uuid4().hex}  # to clean up this test's containers
    own = {BUILD_LABEL: "build", WORK_DIR_LABEL: str(tmp_path.resolve())}

    def container(labels: dict[str, str], *, start: bool = True) -> Any:
        made = client.containers.create(
            settings.docker_image,
            ["sleep", "600"],
            labels={**labels, **test},
            network_mode="none",
            volumes={"/usr": {"bind": "/usr", "mode": "ro"}},  # the host's tools, as in a build
        )
        if start:
            made.start()
        return made

    try:
        running, exited = container(own), container(own, start=False)
        kept = [
            container({BUILD_LABEL: "build", WORK_DIR_LABEL: str(tmp_path / "other")}),
            container({WORK_DIR_LABEL: str(tmp_path.resolve())}),  # not a build's
        ]
        assert sandbox.sweep_stale(600) == 0  # younger than a build may run: kept
        assert client.containers.get(running.id).status == "running"
        time.sleep(1.1)  # Docker's creation times count whole seconds
        assert sandbox.sweep_stale(0) == 2
        for gone in (running, exited):
            with pytest.raises(NotFound):
                client.containers.get(gone.id)
        assert [client.containers.get(c.id).status for c in kept] == ["running", "running"]

        left = container(own)
        time.sleep(1.1)  # older than twice the build timeout
        Compiler(settings, sandbox=sandbox).close()  # a compiler starting sweeps
        with pytest.raises(NotFound):
            client.containers.get(left.id)
    finally:
        ours = {"label": [f"{key}={value}" for key, value in test.items()]}
        for made in client.containers.list(all=True, filters=ours):
            made.remove(force=True)


def test_a_compiler_starts_when_its_sandbox_cannot_sweep(tmp_path: Path) -> None:
    """The sweep is housekeeping: a sandbox that cannot run yet (its check says why) does not
    keep the compiler from starting."""
    from services.compiler.builder import Compiler

    class Unreachable:
        name = "docker"

        def check(self) -> None:
            raise AssertionError("not called by the constructor")

        def run(self, *_: Any, **__: Any) -> Any:
            raise AssertionError("nothing is built here")

        def sweep_stale(self, older_than_seconds: float) -> int:
            raise ConnectionError("the Docker Engine is not reachable")

        def stop_builds(self) -> int:
            raise ConnectionError("the Docker Engine is not reachable")

    compiler = Compiler(own_folders(tmp_path), sandbox=Unreachable())
    compiler.close()  # nor from stopping


def test_a_stopping_compiler_ends_its_builds_and_leaves_no_container(tmp_path: Path) -> None:
    """A compiler stopped mid-build (Ctrl-C on the dev stack, a deploy's SIGTERM) removes its
    build containers before its process exits: the build in progress returns ``stopped`` (the
    builder gives its callers a transient failure, never remembered) and a build that would
    start after it does not start."""
    import docker

    from services.compiler.builder import Compiler

    settings = own_folders(tmp_path, sandbox="docker")
    compiler = Compiler(settings)
    compiler.sandbox.check()
    client = docker.from_env()
    own = {"label": [f"{BUILD_LABEL}=build", f"{WORK_DIR_LABEL}={tmp_path.resolve()}"]}
    build = tmp_path / "build"
    build.mkdir()
    runs: list[Any] = []
    builder = threading.Thread(
        target=lambda: runs.append(run_in(compiler, build, "sleep 600")), daemon=True
    )
    builder.start()
    try:
        deadline = time.monotonic() + 60
        while not client.containers.list(filters=own) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.containers.list(filters=own), "the build's container never started"

        compiler.close()
        assert client.containers.list(all=True, filters=own) == []  # gone as close returns
        builder.join(timeout=30)
        assert [(r.stopped, r.exit_code) for r in runs] == [(True, None)]
        late = run_in(compiler, build, "echo never")
        assert late.stopped and late.output == ""
        assert client.containers.list(all=True, filters=own) == []
    finally:
        for left in client.containers.list(all=True, filters=own):
            left.remove(force=True)


def run_in(compiler: Any, build: Path, script: str) -> Any:
    return compiler.sandbox.run(build, ["bash", "-c", script], ENV, BUILD_ROOT, LIMITS)
