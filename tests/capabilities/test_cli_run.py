"""``outlayer run`` serves the host functions locally, as a user runs it: storage persists in
--data-dir between runs, a store and a caller are chosen with --store and --caller, randomness
is proven with the local development key, and bad flags are refused with exit 2."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from outlayer import vrf
from services.executor._guest_abi import PER_CALLER, HostStatus
from tests.capabilities.abi_guest import AbiGuest, Record, records


def outlayer_run(module: Path, *flags: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home),
           "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(home / "modules")}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "cli.main", "run", str(module), "--format",
                           "bytes", *flags], capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip


def ran(done: subprocess.CompletedProcess[str]) -> tuple[list[Record], dict[str, Any]]:
    assert done.returncode == 0, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout)
    return records(result["output"]), result


def test_storage_persists_in_the_data_dir(tmp_path: Path) -> None:
    module = tmp_path / "counter.wasm"
    module.write_bytes(AbiGuest().call("storage_increment", b"n", 1, 0)
                       .call("storage_increment", b"n", 1, PER_CALLER).wasm())  # fmt: skip
    data = tmp_path / "data"
    first, result = ran(outlayer_run(module, "--data-dir", str(data), "--caller", "alice.near",
                                     home=tmp_path))  # fmt: skip
    assert first == [Record(1, b"1"), Record(1, b"1")]
    assert result["resources_used"]["capabilities"]["storage_writes"] == 2
    again, _ = ran(outlayer_run(module, "--data-dir", str(data), "--caller", "bob.near",
                                home=tmp_path))  # fmt: skip
    assert again == [Record(1, b"2"), Record(1, b"1")]  # the shared count, bob's own
    other, _ = ran(outlayer_run(module, "--data-dir", str(data), "--store", "project:x/y",
                                "--caller", "alice.near", home=tmp_path))  # fmt: skip
    assert other == [Record(1, b"1"), Record(1, b"1")]
    # Without --caller there is no caller's space; nothing is written outside --data-dir.
    alone, _ = ran(outlayer_run(module, "--data-dir", str(data), home=tmp_path))
    assert alone[0] == Record(1, b"3") and alone[1].status == HostStatus.INVALID
    assert not (tmp_path / ".local").exists()


def test_randomness_verifies_against_the_local_key(tmp_path: Path) -> None:
    module = tmp_path / "coin.wasm"
    module.write_bytes(AbiGuest().call("random", b"flip").wasm())
    (got,), _ = ran(outlayer_run(module, "--data-dir", str(tmp_path / "d"), home=tmp_path))
    coin = json.loads(got.answer)
    assert coin["prover"] == "local development key"
    alpha = vrf.alpha_for(coin["origin"], b"flip")
    proof = bytes.fromhex(coin["proof"])
    assert vrf.verify(bytes.fromhex(coin["public_key"]), alpha, proof).hex() == coin["output"]


def test_a_run_that_asks_for_nothing_writes_nothing(tmp_path: Path) -> None:
    module = tmp_path / "plain.wat"
    module.write_text('(module (memory (export "memory") 1) (func (export "_start")))')
    done = outlayer_run(module, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == base64.b64encode(b"").decode()
    assert not (tmp_path / ".local").exists()  # the default --data-dir is made only when used


def test_bad_flags_are_refused(tmp_path: Path) -> None:
    module = tmp_path / "plain.wat"
    module.write_text('(module (memory (export "memory") 1) (func (export "_start")))')
    done = outlayer_run(module, "--caller", "Not An Account!", home=tmp_path)
    assert done.returncode == 2 and "--caller" in done.stderr and "NEAR account id" in done.stderr
