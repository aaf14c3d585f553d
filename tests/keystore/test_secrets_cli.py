"""The client side of secrets, as a user runs it: public key → encrypt → store on chain; only the
repository's key opens what the contract holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devstack.demo import account, provision
from outlayer.near.rpc import NearRpc
from services.keystore.keys import decrypt_secrets, development_master, repo_private_key
from tests.localnet_server import running_localnet

REPO = "https://github.com/alice/bot"


def outlayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "secrets", *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_encrypt_store_and_only_the_keystore_can_read(tmp_path: Path) -> None:
    with running_localnet(tmp_path) as (url, root):
        rpc = NearRpc(url)
        outlayer_contract, _ = provision(rpc, root, tmp_path / "keys", lambda _: None)
        alice = account(rpc, root, "alice", tmp_path / "keys", lambda _: None)
        master_file = tmp_path / "master.key"

        key = outlayer("public-key", "--repo", REPO, "--master-key-file", str(master_file))
        assert key.returncode == 0, key.stderr
        public_key = json.loads(key.stdout)["public_key"]
        blob = outlayer(
            "encrypt", "--repo", REPO, "--public-key", public_key, "API_KEY=s3cr3t", "MODE=prod"
        )
        assert blob.returncode == 0, blob.stderr
        stored = outlayer("store", "--rpc", url, "--contract", outlayer_contract.account_id,
                          "--key-file", str(tmp_path / "keys" / "alice.localnet.json"),
                          "--repo", REPO, "--profile", "prod", "--blob", blob.stdout.strip(),
                          "--access", '{"Whitelist": {"accounts": ["bob.localnet"]}}')  # fmt: skip
        assert stored.returncode == 0, stored.stderr
        wanted = {"owner": alice.account_id, "repo": REPO, "profile": "prod"}
        on_chain = rpc.view(outlayer_contract.account_id, "get_secrets", wanted)
        assert "s3cr3t" not in json.dumps(on_chain)
        assert on_chain["access"] == {"Whitelist": {"accounts": ["bob.localnet"]}}
        opened = decrypt_secrets(repo_private_key(development_master(master_file), REPO),
                                 on_chain["encrypted_secrets_base64"])  # fmt: skip
        assert opened == {"API_KEY": "s3cr3t", "MODE": "prod"}

        refused = outlayer("store", "--rpc", url, "--contract", outlayer_contract.account_id,
                           "--key-file", str(tmp_path / "keys" / "alice.localnet.json"),
                           "--repo", REPO, "--profile", "p2", "--blob", blob.stdout.strip(),
                           "--access", '{"Everyone": {}}')  # fmt: skip
        assert refused.returncode == 1 and "unknown access condition" in refused.stderr


def test_careless_arguments_get_one_line_and_exit_2(tmp_path: Path) -> None:
    """Nothing is fetched, encrypted or sent for arguments the platform would refuse later."""
    public = "ab" * 32
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    cases = [
        (["encrypt", "--repo", "not-a-url", "--public-key", public, "A=1"],
         "is not a repository URL"),
        (["encrypt", "--repo", "https://gitlab.com/a/b", "--public-key", public, "A=1"],
         "https://github.com/OWNER/REPO"),
        (["encrypt", "--repo", REPO, "--branch=-x", "--public-key", public, "A=1"],
         "is not a branch or tag name"),
        (["encrypt", "--repo", REPO, "--public-key", public, "BAD NAME=x"],
         "not an environment variable name"),
        (["encrypt", "--repo", REPO, "--keystore", "https://127.0.0.1:9",
          "--cacert", str(tmp_path / "missing.pem"), "A=1"], "is not a CA certificate in PEM"),
        (["encrypt", "--repo", REPO, "--keystore", "https://127.0.0.1:9",
          "--cacert", str(not_pem), "A=1"], "is not a CA certificate in PEM"),
        (["encrypt", "--repo", REPO, "--keystore", "http://127.0.0.1:9", "A=1"],
         "over https://"),
        (["public-key", "--repo", "not-a-url", "--master-key-file", str(tmp_path / "m")],
         "is not a repository URL"),
        (["store", "--repo", "not-a-url", "--profile", "p", "--blob", "x",
          "--key-file", str(tmp_path / "k.json")], "is not a repository URL"),
        (["store", "--repo", REPO, "--profile", "p", "--blob", "!!not base64!!",
          "--key-file", str(tmp_path / "k.json")], "not base64"),
        (["store", "--repo", REPO, "--profile", "p", "--blob", "c2VjcmV0",
          "--key-file", str(tmp_path / "k.json")], "too short for encrypted secrets"),
    ]  # fmt: skip
    for args, says in cases:
        done = outlayer(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stdout == "", (args, done.stdout)
    assert not (tmp_path / "m").exists()  # the refused public-key made no master file
