"""`outlayer dev` brings the whole stack up as separate processes over mTLS; `outlayer dev demo`
makes an on-chain request and an HTTPS call through it, and the printed curl line works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_services_cli import free_port


def test_dev_stack_serves_an_on_chain_request_end_to_end(tmp_path: Path) -> None:
    ports = [
        "--localnet-port",
        str(free_port()),
        "--edge-port",
        str(free_port()),
        "--coordinator-port",
        str(free_port()),
        "--executor-port",
        str(free_port()),
    ]
    base = [sys.executable, "-m", "outlayer.cli.main", "dev", "--dir", str(tmp_path / "dev")]
    log = (tmp_path / "dev.log").open("w+")
    stack = subprocess.Popen([*base, *ports], stderr=log, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while "outlayer dev: ready" not in (tmp_path / "dev.log").read_text():
            assert stack.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "the stack did not come up in 120 s"
            time.sleep(0.2)
        done = subprocess.run(
            [*base, *ports[:2], "request", "--input", "from the test"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["status"] == "success"
        assert result["output"]["input"] == "from the test"
        assert "NEAR_TRANSACTION_HASH" in result["output"]["env_names"]
    finally:
        stack.send_signal(signal.SIGTERM)
        assert stack.wait(timeout=60) == 0
    assert "Traceback" not in (tmp_path / "dev.log").read_text()
