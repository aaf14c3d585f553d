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

import pytest

from devstack.stack import DEMO_REPO
from devtools.ports import free_port


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.timeout(1200)
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
        "--keystore-port",
        str(free_port()),
        "--compiler-port",
        str(free_port()),
        "--crates-port",
        str(free_port()),
    ]
    base = [sys.executable, "-m", "cli.main", "dev", "--dir", str(tmp_path / "dev")]
    log = (tmp_path / "dev.log").open("w+")
    stack = subprocess.Popen([*base, *ports], stderr=log, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 300
        while "outlayer dev: ready" not in (tmp_path / "dev.log").read_text():
            assert stack.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "the stack did not come up in 300 s"
            time.sleep(0.2)
        # Without its ports: `dev request` finds them in the running stack's folder. The input
        # is long enough to need more than the base storage stake (the estimate counts it).
        long_input = "from the test " + "x" * 400
        done = subprocess.run(
            [*base, "request", "--input", long_input],
            capture_output=True,
            text=True,
            # The first Rust build (std for wasm32 from source) takes minutes on a loaded machine.
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        # The stack started compiling the example when it came up; a request that came before
        # the build finished was answered compiling and sent again.
        assert result["status"] == "success"
        assert result["output"]["input"] == long_input
        assert "NEAR_TRANSACTION_HASH" in result["output"]["env_names"]
        assert "API_KEY" not in result["output"]["env_names"]

        # The demo: the same source on chain and over HTTPS (the project names its commit).
        demo = run([*base, "demo", "--input", "both ways"], dict(os.environ))
        both = json.loads(demo.stdout)
        assert both["on_chain"]["output"]["input"] == "both ways"
        assert both["https"]["result"]["output"]["input"] == "both ways"
        assert int(both["https"]["charged"]) > 0

        # Secrets: encrypted on this side to a key from the attested keystore (through the
        # edge), stored on chain, then a request that names them sees them.
        edge = f"https://127.0.0.1:{ports[3]}"
        dev = tmp_path / "dev"
        cli = [sys.executable, "-m", "cli.main"]
        client_env = {**os.environ, "OUTLAYER_ATTESTATION__ACCEPT_DEVELOPMENT": "true"}
        ca = str(dev / "pki" / "ca.pem")
        sealed = run(
            [
                *cli,
                "secrets",
                "encrypt",
                "--repo",
                DEMO_REPO,
                "--keystore",
                edge,
                "--cacert",
                ca,
                "--profile",
                "dev",
                "API_KEY=dev-secret",
            ],
            client_env,
        )
        assert "outlayer secrets store" in sealed.stderr  # the next step, ready to run
        run(
            [
                *cli,
                "secrets",
                "store",
                "--rpc",
                f"http://127.0.0.1:{ports[1]}",
                "--key-file",
                str(dev / "keys" / "alice.localnet.json"),
                "--repo",
                DEMO_REPO,
                "--profile",
                "dev",
                "--blob",
                sealed.stdout.strip(),
            ],
            client_env,
        )
        with_secrets = run(
            [*base, *ports[:2], "request", "--input", "x", "--secrets-profile", "dev"], client_env
        )
        assert "API_KEY" in json.loads(with_secrets.stdout)["output"]["env_names"]
        assert "dev-secret" not in with_secrets.stdout

        # The VRF key guests' randomness is proven with, through the edge, signed by the
        # attested keystore; a proof that is not its own is refused.
        vrf_key = json.loads(run([*cli, "vrf", "public-key", "--keystore", edge, "--cacert", ca],
                                 client_env).stdout)  # fmt: skip
        assert vrf_key["suite"] == "ECVRF-EDWARDS25519-SHA512-TAI"
        assert len(bytes.fromhex(vrf_key["public_key"])) == 32
        bogus = subprocess.run([*cli, "vrf", "verify", "--keystore", edge, "--cacert", ca,
                                "--request-id", "1", "--seed-text", "x", "--proof", "00" * 80],
                               capture_output=True, text=True, timeout=60, check=False,
                               env=client_env)  # fmt: skip
        assert bogus.returncode == 1 and json.loads(bogus.stdout)["valid"] is False

        refused = subprocess.run([*cli, "secrets", "encrypt", "--repo", DEMO_REPO, "--keystore",
                                  edge, "--cacert", ca, "API_KEY=x"], capture_output=True,
                                 text=True, timeout=60, check=False)  # fmt: skip
        assert refused.returncode == 2 and "development attestation" in refused.stderr
        fetched = run(
            [
                *cli,
                "attestation",
                "fetch",
                edge,
                "--cacert",
                ca,
                "--out",
                str(tmp_path / "attestation"),
            ],
            client_env,
        )
        assert json.loads(fetched.stdout)["mode"] == "development"
    finally:
        stack.send_signal(signal.SIGTERM)
        assert stack.wait(timeout=60) == 0
    assert "Traceback" not in (tmp_path / "dev.log").read_text()
