"""``outlayer run ... | head``: a reader that stops early ends the command quietly, with the
guest's exit status, and no BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GUESTS_DIR


@pytest.mark.parametrize(("guest", "status"), [("hello.wat", 0), ("trap.wat", 1)])
def test_a_closed_stdout_is_not_a_traceback(tmp_path: Path, guest: str, status: int) -> None:
    env = {**os.environ, "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(tmp_path)}
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the command writes a byte (`| head -0`)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "run", str(GUESTS_DIR / guest)],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    finally:
        os.close(writer)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert done.returncode == status


def test_head_of_the_output_gets_the_first_line(tmp_path: Path) -> None:
    env = {**os.environ, "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(tmp_path)}
    command = f"{sys.executable} -m cli.main run {GUESTS_DIR / 'hello.wat'} | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], check=False,
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.stdout == "{\n"
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0
