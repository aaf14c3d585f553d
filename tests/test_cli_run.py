"""``outlayer run`` as a user runs it: one JSON object on stdout, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import GUESTS_DIR, built_guest

RESULT_KEYS = {"status", "output", "error", "resources_used", "logs", "exit_code", "refund_usd"}


def outlayer(
    *args: str | Path, cache: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "run", *map(str, args)],
        check=False,
        input=stdin.decode(),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def parse(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(done.stdout)
    assert set(result) == RESULT_KEYS
    assert set(result["resources_used"]) == {"instructions", "time_ms", "memory_bytes"}
    return result


def test_success_prints_one_json_object_and_exits_0(tmp_path: Path) -> None:
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(built_guest("echo_json_c"))
    done = outlayer(
        wasm, "--input", "hi", "--env", "GREETING=yo", "--format", "json", cache=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = parse(done)
    assert result["status"] == "success"
    assert result["output"] == {"language": "c", "greeting": "yo", "input": "hi", "input_bytes": 2}
    assert result["error"] is None
    assert result["exit_code"] == 0


def test_wat_files_are_accepted_and_failures_exit_1(tmp_path: Path) -> None:
    done = outlayer(GUESTS_DIR / "exit_nonzero.wat", cache=tmp_path)
    assert done.returncode == 1
    result = parse(done)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "exit_code"
    assert result["exit_code"] == 3


def test_limits_flags_reach_the_sandbox(tmp_path: Path) -> None:
    done = outlayer(GUESTS_DIR / "infinite_loop.wat", "--max-instructions", "12345", cache=tmp_path)
    assert done.returncode == 1
    result = parse(done)
    assert result["error"]["type"] == "instruction_limit"
    assert result["resources_used"]["instructions"] == 12345
    done = outlayer(GUESTS_DIR / "memory_bomb.wat", "--max-memory-mb", "2", cache=tmp_path)
    assert parse(done)["resources_used"]["memory_bytes"] == 2 * 1024 * 1024


def test_input_file_and_bytes_format(tmp_path: Path) -> None:
    data = tmp_path / "in.bin"
    data.write_bytes(b"\x00\x01binary")
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(built_guest("echo_json_rust"))
    done = outlayer(wasm, "--input-file", data, "--format", "bytes", cache=tmp_path)
    assert done.returncode == 0, done.stdout
    assert parse(done)["output"].startswith(
        "eyJsYW5ndWFnZSI6InJ1c3Qi"
    )  # base64 of {"language":"rust"


def test_invalid_wat_is_a_failed_result(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wat"
    bad.write_text("(module (func $f (i32.add)")
    done = outlayer(bad, cache=tmp_path)
    assert done.returncode == 1
    assert parse(done)["error"]["type"] == "invalid_wasm"


def test_bad_usage_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    hello = GUESTS_DIR / "hello.wat"
    cases = [
        ((tmp_path / "missing.wasm",), "cannot read"),
        ((hello, "--env", "NOEQUALS"), "is not KEY=VALUE"),
        ((hello, "--max-instructions", "100000000001"), "above the cap of 100000000000"),
        ((hello, "--timeout-s", "61"), "above the cap of 60"),
        ((hello, "--max-memory-mb", "0"), "must be a positive whole number"),
        ((hello, "--input", "a", "--input-file", "b"), "not allowed with argument"),
        ((hello, "--format", "xml"), "invalid choice"),
        ((hello, "--max-instructions", "1.5e3x"), "is not a whole number"),
        ((hello, "--max-instructions", "1.5"), "is not a whole number"),
        ((hello, "--max-instructions", "1e999999999"), "is not a whole number of a sane size"),
        ((hello, "--data-dir", tmp_path / "a-file"), "is not a folder"),
        ((hello, "--data-dir", tmp_path / "a-file" / "below"), "is not a folder"),
    ]
    (tmp_path / "a-file").write_text("keep")
    for args, message in cases:
        done = outlayer(*args, cache=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert done.stdout == ""
        assert "Traceback" not in done.stderr
    assert (tmp_path / "a-file").read_text() == "keep"
    # Written as the README writes the default: 1e9 instructions.
    done = outlayer(hello, "--max-instructions", "1e9", "--data-dir", tmp_path / "data",
                    cache=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "OUTLAYER_EXECUTOR__POOL_SIZE": "zero"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", str(GUESTS_DIR / "hello.wat")],
        check=False,
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "OUTLAYER_EXECUTOR__POOL_SIZE" in done.stderr
