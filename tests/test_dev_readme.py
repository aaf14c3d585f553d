"""The README's steps as a new user runs them, in the order given, against a fresh `outlayer
dev` stack (on its own folder and ports); and the stack's own guarantees: private files, and a
service that dies is restarted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.stack import https_call
from devtools.ports import free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_secrets_steps() -> list[str]:
    """The shell commands of the README's secrets block, continuation lines joined."""
    text = README.read_text()
    block = text.split("Secrets, against the same stack", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def _wait_for(log: Path, text: str, stack: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text():
        assert stack.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s:g} s: {log.read_text()}"
        time.sleep(0.2)


# A whole stack, and a first Rust build on a fresh folder: longer than the suite's default.
@pytest.mark.timeout(900)
def test_the_readme_secrets_steps_work_in_order_on_a_fresh_stack(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    names = ["localnet", "coordinator", "executor", "edge", "keystore", "compiler", "crates"]
    port = {name: free_port() for name in names}
    flags = [arg for name in names for arg in (f"--{name}-port", str(port[name]))]
    log = tmp_path / "dev.log"
    with log.open("w") as sink:
        stack = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dev", "--dir", str(dev), *flags],
            stderr=sink,
        )
    try:
        _wait_for(log, "outlayer dev: ready", stack, 300)
        # Keys, tokens and the database are the owner's alone.
        assert dev.stat().st_mode & 0o777 == 0o700
        for name in ("admin.token", "payment.key", "worker.token", "coordinator.db"):
            assert (dev / name).stat().st_mode & 0o777 == 0o600, name

        steps = readme_secrets_steps()
        assert [s.split()[0] for s in steps] == [
            "export",
            ".venv/bin/outlayer",
            ".venv/bin/outlayer",
            ".venv/bin/outlayer",
        ]
        env = dict(os.environ)
        name, _, value = steps[0].removeprefix("export ").partition("=")
        env[name] = value
        blob = ""
        rpc = f"http://127.0.0.1:{port['localnet']}"
        for step in steps[1:]:
            # Only this test stack's folder and ports differ from the README's.
            command = (
                step.replace("~/.outlayer/dev", str(dev))
                .replace("https://127.0.0.1:8443", f"https://127.0.0.1:{port['edge']}")
                .replace("<the blob>", blob)
                .replace("secrets store ", f"secrets store --rpc {rpc} ")
                .replace(".venv/bin/outlayer dev request",
                         f".venv/bin/outlayer dev --dir {dev} --localnet-port {port['localnet']} "
                         "request")
            )  # fmt: skip
            done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                  timeout=600, check=False, env=env,
                                  cwd=README.parent)  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            if " secrets encrypt " in command:
                blob = done.stdout.strip()
        result = json.loads(done.stdout)
        assert result["status"] == "success", result
        assert "API_KEY" in result["output"]["env_names"]

        # A service that dies is restarted by the stack, and the stack serves again.
        pid = int(re.findall(r"coordinator started \(pid (\d+)\)", log.read_text())[0])
        os.kill(pid, signal.SIGKILL)
        _wait_for(log, "coordinator restarted (pid ", stack, 60)
        assert "coordinator exited with code -9; restarting it in" in log.read_text()
        deadline = time.monotonic() + 120
        while True:  # the edge answers 503 until the restarted coordinator listens again
            answer = https_call(dev, port["edge"], "after the restart")
            if "result" in answer or time.monotonic() > deadline:
                break
            assert answer.get("code") == "unavailable", answer
            time.sleep(0.5)
        assert answer["result"]["status"] == "success", answer
        assert stack.poll() is None
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=60)
