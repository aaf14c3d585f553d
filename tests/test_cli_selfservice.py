"""Self-service from the command line, as a user runs it: ``outlayer project``, ``key``,
``earnings`` and ``balance`` sign with near-cli key files and change the compiled contract's
state on a localnet served over JSON-RPC; every refusal is one readable line and moves
nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from cli.main import main
from devstack.demo import account, create_funded_key, provision, provision_stablecoin
from outlayer.near.actions import DeployContractAction
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from tests.conftest import built_contract
from tests.localnet_server import running_localnet

REPO_ROOT = Path(__file__).resolve().parents[1]
NEAR = 10**24
MILLION = 10**6  # the test token has 6 decimals, as USDC
SOURCE_REPO = "https://github.com/alice/hello"
COMMIT = "ab" * 20
DEPOSIT = NEAR // 10  # what the commands attach for storage by default
GAS_AT_MOST = NEAR // 100  # what a refused call may cost its signer: gas, never the deposit


@dataclass
class World:
    url: str
    rpc: NearRpc
    keys: Path
    contract: Signer  # the OutLayer contract, its own owner
    operator: Signer  # who settles HTTPS usage (and resolves requests)
    token: str
    users: dict[str, Signer]

    def key_file(self, name: str) -> str:
        return str(self.keys / f"{self.users[name].account_id}.json")

    def id(self, name: str) -> str:
        return self.users[name].account_id

    def send(self, signer: Signer, receiver: str, method: str, args: Any, deposit: int = 0) -> None:
        """A call made outside the CLI (a fresh client: the CLI used the signer's nonces)."""
        rpc = NearRpc(self.url)
        try:
            outcome = rpc.function_call(signer, receiver, method, args, deposit=deposit)
        finally:
            rpc.close()
        assert outcome.failure is None, outcome.failure

    def view(self, method: str, args: Any) -> Any:
        return self.rpc.view(self.contract.account_id, method, args)

    def ft_balance(self, name: str) -> int:
        return int(self.rpc.view(self.token, "ft_balance_of", {"account_id": self.id(name)}))

    def near_balance(self, name: str) -> int:
        return int(self.rpc.view_account(self.id(name))["amount"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A localnet with the OutLayer contract, a whitelisted token (Alice holds its supply, Bob
    100) and users with key files, as near-cli keeps them."""
    built_contract("outlayer")  # provision deploys the built contract
    tmp = tmp_path_factory.mktemp("selfservice")
    keys = tmp / "keys"
    with running_localnet(tmp) as (url, root):
        rpc = NearRpc(url)
        contract, operator = provision(rpc, root, keys, lambda _: None)
        users = {name: account(rpc, root, name, keys, lambda _: None)
                 for name in ("alice", "bob", "dev", "carol", "erin")}  # fmt: skip
        token = account(rpc, root, "usdc", keys, lambda _: None)
        rpc.send(token, token.account_id, [DeployContractAction(built_contract("test_token"))])
        supply = {"owner_id": users["alice"].account_id, "total_supply": str(1000 * MILLION)}
        assert rpc.function_call(token, token.account_id, "new", supply).failure is None
        added = rpc.function_call(contract, contract.account_id, "add_token",
                                  {"token_id": token.account_id})  # fmt: skip
        assert added.failure is None
        to_bob = {"receiver_id": users["bob"].account_id, "amount": str(100 * MILLION)}
        sent = rpc.function_call(users["alice"], token.account_id, "ft_transfer", to_bob, deposit=1)
        assert sent.failure is None
        yield World(url, rpc, keys, contract, operator, token.account_id, users)
        rpc.close()


@dataclass
class Cli:
    world: World
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str, who: str | None = "alice") -> tuple[int, str, str]:
        chain = [] if "--rpc" in argv else ["--rpc", self.world.url]
        if "--contract" not in argv:
            chain += ["--contract", self.world.contract.account_id]
        if who is not None:
            chain += ["--key-file", self.world.key_file(who)]
        self.capsys.readouterr()
        code = main([*argv, *chain])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str, who: str | None = "alice") -> Any:
        """The command's --json answer; it must succeed."""
        code, out, err = self.run(*argv, "--json", who=who)
        assert code == 0, err
        return json.loads(out)

    def refused(self, *argv: str, who: str | None = "alice", code: int = 1) -> str:
        """The command fails with exit ``code`` and one readable line on stderr."""
        got, out, err = self.run(*argv, who=who)
        assert got == code, (out, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "Traceback" not in err and "Smart contract panicked" not in err
        return lines[0]


@pytest.fixture
def cli(world: World, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(world, capsys)


# --- projects -----------------------------------------------------------------------------------
def test_a_project_created_versioned_listed_shown_and_deleted(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    alice = world.id("alice")
    before = world.near_balance("alice")
    code, out, err = cli.run(
        "project", "create", "hello", "--repo", SOURCE_REPO, "--commit", COMMIT
    )
    assert code == 0, err
    project = world.view("get_project", {"project_id": f"{alice}/hello"})
    assert project["active_version"] == 1 and project["active"]["code_source"] == {
        "repo": SOURCE_REPO, "commit": COMMIT}  # fmt: skip
    assert out.startswith(f"created project {alice}/hello, version 1 active (storage 0.00")
    assert "NEAR of the deposit refunded" in out
    spent = before - world.near_balance("alice")
    assert 0 < spent < DEPOSIT  # the storage and gas, the rest of the deposit came back

    wasm = tmp_path / "module.wasm"
    wasm.write_bytes(b"\0asm\1\0\0\0")
    added = cli.ok("project", "version", "add", "hello", "--wasm", str(wasm), "--no-activate")
    assert added["version"] == 2 and added["active_version"] == 1
    assert int(added["storage_deposit"]) + int(added["refunded"]) == DEPOSIT
    versions = world.view("list_versions", {"project_id": f"{alice}/hello"})
    assert versions[1]["wasm_sha256"] == hashlib.sha256(wasm.read_bytes()).hexdigest()
    assert cli.ok("project", "version", "activate", "hello", "2")["active_version"] == 2
    assert world.view("get_project", {"project_id": f"{alice}/hello"})["active_version"] == 2

    listed = cli.ok("project", "list", "--account", alice, who=None)
    assert listed == world.view("list_user_projects", {"account_id": alice})
    assert [p["project_id"] for p in listed] == [f"{alice}/hello"]
    code, out, err = cli.run("project", "show", "hello")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"{alice}/hello: version 2 of 2 active")
    assert f"   1: {SOURCE_REPO} commit {COMMIT}" in out
    assert " * 2: module sha256 " in out

    # The same, as an installed command: a separate process, text output.
    shown = subprocess.run([sys.executable, "-m", "cli.main", "project", "list", "--rpc",
                            world.url, "--account", alice, "--contract",
                            world.contract.account_id],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{alice}/hello  version 2 of 2 active")

    held = int(added["storage_deposit"])
    deleted = cli.ok("project", "delete", "hello")
    assert int(deleted["refunded"]) > held  # both versions and the project record
    assert world.view("get_project", {"project_id": f"{alice}/hello"}) is None
    assert cli.ok("project", "list", "--account", alice, who=None) == []


def test_project_refusals_are_one_line_and_move_nothing(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    carol = world.id("carol")
    before = world.near_balance("carol")
    line = cli.refused("project", "create", "Bad Name", "--wasm-sha256", "ab" * 32, who="carol")
    assert line.startswith(f"outlayer project create: {world.contract.account_id} refused "
                           "create_project: OutLayer: name must be 1 to 64 characters")  # fmt: skip
    assert 0 <= before - world.near_balance("carol") < GAS_AT_MOST  # the deposit came back
    assert world.view("list_user_projects", {"account_id": carol}) == []

    # Bad usage is caught before anything is signed (exit 2).
    line = cli.refused("project", "create", "x", who="carol", code=2)
    assert "give the version's code: --repo URL with --commit" in line
    line = cli.refused("project", "create", "x", "--repo", SOURCE_REPO, who="carol", code=2)
    assert "--repo needs exactly one of --commit, --branch and --tag" in line
    line = cli.refused("project", "create", "x", "--wasm-sha256", "ab" * 32, "--deposit-near",
                       "lots", who="carol", code=2)  # fmt: skip
    assert "--deposit-near 'lots' is not a number of NEAR" in line
    line = cli.refused("project", "create", "x", "--wasm-sha256", "ab" * 32, "--deposit-near",
                       "1e30", who="carol", code=2)  # fmt: skip
    assert "--deposit-near '1e30' is more than any NEAR amount can be" in line
    line = cli.refused("project", "create", "x", "--wasm-sha256", "ab" * 32, "--deposit-near",
                       "1e999999", who="carol", code=2)  # fmt: skip
    assert "is more than any NEAR amount can be" in line  # at once, not after a long sum
    # Signed, but more than carol holds: the chain's refusal (exit 1), not bad usage.
    line = cli.refused("project", "create", "x", "--wasm-sha256", "ab" * 32, "--deposit-near",
                       "1000000000", who="carol")  # fmt: skip
    assert line.startswith("outlayer project create: the chain refused create_project"), line
    assert "NotEnoughBalance" in line and "lower --deposit-near" in line
    line = cli.refused("project", "create", "x", "--wasm-sha256", "ab" * 32, "--key-file",
                       "/nonexistent/carol.json", who=None, code=2)  # fmt: skip
    assert "no key file at /nonexistent/carol.json" in line
    line = cli.refused("project", "list", who=None, code=2)
    assert "give --account ACCOUNT or --key-file FILE" in line
    line = cli.refused("key", "balance", "1", who=None, code=2)
    assert "give --owner ACCOUNT or --key-file FILE" in line  # the option key balance takes

    assert cli.ok("project", "create", "dup", "--wasm-sha256", "ab" * 32, who="carol")
    line = cli.refused("project", "create", "dup", "--wasm-sha256", "cd" * 32, who="carol")
    assert "you already have a project named 'dup'" in line
    line = cli.refused("project", "version", "activate", "dup", "7", who="carol")
    assert line.startswith("outlayer project version activate: ")
    assert "version must be a whole number from 1 to 1, got 7" in line
    line = cli.refused("project", "version", "activate", "dup", "0", who="carol")
    assert "version must be a whole number from 1 to 1, got 0" in line
    # A file that is no WebAssembly is refused before anything is signed.
    not_wasm = tmp_path / "README.md"
    not_wasm.write_text("# not a module\n")
    line = cli.refused("project", "version", "add", "dup", "--wasm", str(not_wasm), who="carol",
                       code=2)  # fmt: skip
    assert "is not a WebAssembly module" in line
    line = cli.refused("project", "version", "add", "dup", "--wasm-sha256", "cd" * 32, who="bob")
    assert "you have no project named 'dup'" in line  # Bob's, not Carol's
    line = cli.refused("project", "show", "nothing", who="carol")
    assert line == f"outlayer project show: no project {carol}/nothing in outlayer.localnet"
    versions = world.view("list_versions", {"project_id": f"{carol}/dup"})
    assert [v["wasm_sha256"] for v in versions] == ["ab" * 32]


# --- payment keys -------------------------------------------------------------------------------
def test_a_token_key_created_topped_up_and_deleted_refunds_its_owner(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    alice = world.id("alice")
    tokens_before = world.ft_balance("alice")
    secret_file = tmp_path / "key.secret"
    created = cli.ok("key", "create", "--token", world.token, "--max-per-call", "0.25",
                     "--allow-project", f"{alice}/hello",
                     "--secret-file", str(secret_file))  # fmt: skip
    nonce = created["nonce"]
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()
    assert secret.startswith("olk_") and "secret" not in created  # not printed
    key_hash = hashlib.sha256(secret.encode()).hexdigest()
    record = world.view("find_payment_key", {"key_hash": key_hash})
    assert (record["owner"], record["nonce"], record["token_id"]) == (alice, nonce, world.token)
    assert record["max_per_call"] == "250000" and record["allowed_projects"] == [f"{alice}/hello"]
    assert int(created["storage_deposit"]) + int(created["refunded"]) == DEPOSIT

    code, out, err = cli.run("key", "top-up", str(nonce), "--amount", "1.5")
    assert code == 0, err
    assert out.strip() == (f"topped up {alice}/{nonce} with 1.5 TUSD (1500000); "
                           "balance 1.5 TUSD (1500000)")  # fmt: skip
    assert cli.ok("key", "top-up", str(nonce), "--amount", "250000")["balance"] == "1750000"
    assert world.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == "1750000"
    assert world.ft_balance("alice") == tokens_before - 1_750_000
    code, out, err = cli.run("key", "balance", str(nonce), "--owner", alice, who=None)
    assert code == 0, err
    assert out.strip() == (f"payment key {alice}/{nonce}: balance 1.75 TUSD (1750000); at most "
                           f"0.25 TUSD (250000) a call; projects {alice}/hello; "
                           "expires never")  # fmt: skip
    found = cli.ok("key", "find", "--secret-file", str(secret_file), who=None)
    assert found["nonce"] == nonce

    near_before = world.near_balance("alice")
    deleted = cli.ok("key", "delete", str(nonce))
    assert deleted["refunded_balance"] == "1750000" and int(deleted["refunded_storage"]) > 0
    assert "held_in_user_balance" not in deleted
    assert world.ft_balance("alice") == tokens_before  # the whole top-up came back
    assert world.view("get_payment_key", {"owner": alice, "nonce": nonce}) is None
    assert world.view("find_payment_key", {"key_hash": key_hash}) is None
    assert world.near_balance("alice") > near_before  # the storage refund beat the gas


def test_a_near_key_prints_its_secret_once_and_takes_near(cli: Cli, world: World) -> None:
    dev = world.id("dev")
    code, out, err = cli.run("key", "create", "--token", "near", who="dev")
    assert code == 0, err
    assert out.startswith(f"created payment key {dev}/") and "; secret: olk_" in out
    secret = out.rsplit("secret: ", 1)[1].strip()
    assert "shown only this once" in err
    # The next step works as printed against this (non-default) node.
    assert err.rstrip().endswith(f"--rpc {world.url}"), err
    record = world.view(
        "find_payment_key", {"key_hash": hashlib.sha256(secret.encode()).hexdigest()}
    )
    nonce = record["nonce"]
    assert record["token_id"] == "near"

    topped = cli.ok("key", "top-up", str(nonce), "--amount", "0.5", who="dev")
    assert topped["balance"] == str(NEAR // 2)
    code, out, err = cli.run("key", "balance", str(nonce), who="dev")
    assert code == 0, err
    assert out.startswith(f"payment key {dev}/{nonce}: balance 0.5 NEAR; no limit a call")
    bob_before = world.near_balance("bob")
    line = cli.refused("key", "top-up", str(nonce), "--owner", dev, "--amount", "1.0", who="bob")
    assert line.endswith("refused top_up_payment_key: OutLayer: only the owner of a payment key "
                         "may top up it")  # fmt: skip
    assert 0 <= bob_before - world.near_balance("bob") < GAS_AT_MOST  # his NEAR came back
    assert world.view("get_payment_key", {"owner": dev, "nonce": nonce})["balance"] == str(
        NEAR // 2
    )
    before = world.near_balance("dev")
    deleted = cli.ok("key", "delete", str(nonce), who="dev")
    assert deleted["refunded_balance"] == str(NEAR // 2)
    assert world.near_balance("dev") - before > NEAR // 2 - GAS_AT_MOST


def test_key_refusals_are_one_line_and_move_nothing(cli: Cli, world: World, tmp_path: Path) -> None:
    alice, bob = world.id("alice"), world.id("bob")
    nonce = cli.ok("key", "create", "--token", world.token)["nonce"]
    assert cli.ok("key", "top-up", str(nonce), "--amount", "1")["balance"] == "1"

    # Bob tops up Alice's key: the contract gives his tokens back, and says why.
    bob_tokens = world.ft_balance("bob")
    line = cli.refused("key", "top-up", str(nonce), "--owner", alice, "--amount", "2.5", who="bob")
    assert line == (f"outlayer key top-up: 2.5 TUSD (2500000) came back to you: only the owner "
                    f"of payment key {alice}/{nonce} may top it up")  # fmt: skip
    assert world.ft_balance("bob") == bob_tokens
    assert world.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == "1"

    alice_tokens = world.ft_balance("alice")
    bad = [("abc", "--amount 'abc' is not a number"), ("0", "--amount must be positive"),
           ("-1", "--amount must be positive"),
           ("1.0000001", "--amount '1.0000001' has more than 6 decimal places"),
           (str(2**128), "is more than any NEAR amount can be"),
           ("1e40", "is more than any NEAR amount can be"),
           ("1e999999", "is more than any NEAR amount can be")]  # fmt: skip
    for amount, why in bad:
        line = cli.refused("key", "top-up", str(nonce), "--amount", amount, code=2)
        assert why in line
    line = cli.refused("key", "top-up", "999", "--amount", "1")
    assert line == f"outlayer key top-up: no payment key {alice}/999 in outlayer.localnet"
    line = cli.refused("key", "delete", "999")
    assert line == f"outlayer key delete: no payment key {alice}/999 in outlayer.localnet"
    line = cli.refused("key", "delete", str(nonce), who="bob")
    assert line == f"outlayer key delete: no payment key {bob}/{nonce} in outlayer.localnet"
    assert world.ft_balance("alice") == alice_tokens
    assert world.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == "1"

    # A token that is not whitelisted: the contract refuses, and no secret file is left behind.
    secret_file = tmp_path / "never.secret"
    line = cli.refused("key", "create", "--token", bob, "--secret-file", str(secret_file))
    assert f"token_id must be a whitelisted token or \"near\", got '{bob}'" in line
    assert not secret_file.exists()
    secret_file.write_text("an older key's secret\n")
    line = cli.refused("key", "create", "--token", world.token, "--secret-file", str(secret_file),
                       code=2)  # fmt: skip
    assert line.endswith(f"--secret-file {secret_file} exists; name a new file")
    assert secret_file.read_text() == "an older key's secret\n"
    line = cli.refused("key", "create", "--token", "near", "--deposit-near", "0")
    assert re.search(r"OutLayer: attach at least \d+ yoctoNEAR for the storage this takes "
                     r"\(0\.\d+ NEAR: raise --deposit-near\)$", line)  # fmt: skip
    # None made a key: the next nonce is the one after ours.
    assert cli.ok("key", "create", "--token", "near")["nonce"] == nonce + 1


# --- earnings and balances ----------------------------------------------------------------------
def test_earnings_shown_and_withdrawn_and_balances(cli: Cli, world: World) -> None:
    alice, dev = world.id("alice"), world.id("dev")
    assert cli.ok("earnings", "show", "--account", dev, who=None)["earnings"] == {}
    nonce = cli.ok("key", "create", "--token", world.token)["nonce"]
    cli.ok("key", "top-up", str(nonce), "--amount", "5000000")
    # The operator settles one HTTPS call of Alice's to Dev's project: 2 TUSD to Dev.
    entry = {"ledger_id": 1, "key_owner": alice, "key_nonce": nonce, "owner": dev,
             "project": "echo", "amount": str(2 * MILLION), "fee": "100000"}  # fmt: skip
    world.send(world.operator, world.contract.account_id, "settle_https_usage",
               {"entries": [entry]})  # fmt: skip
    code, out, err = cli.run("earnings", "show", who="dev")
    assert code == 0, err
    assert out.strip() == f"{dev} earned 2 TUSD (2000000) in {world.token}"

    line = cli.refused("earnings", "withdraw", "--token", world.token, "--amount", "3.0", who="dev")
    assert line == (f"outlayer earnings withdraw: {world.contract.account_id} refused "
                    f"withdraw_developer_earnings: OutLayer: cannot withdraw 3000000: your "
                    f"earnings in {world.token} is 2000000")  # fmt: skip
    assert world.ft_balance("dev") == 0
    withdrawn = cli.ok("earnings", "withdraw", "--token", world.token, "--amount", "0.5", who="dev")
    assert withdrawn == {"account_id": dev, "token_id": world.token, "amount": "500000"}
    assert world.ft_balance("dev") == 500_000
    code, out, err = cli.run("earnings", "withdraw", "--token", world.token, who="dev")
    assert code == 0, err
    assert out.strip() == f"withdrew 1.5 TUSD (1500000) of earnings to {dev}"
    assert world.ft_balance("dev") == 2 * MILLION
    assert world.view("get_developer_earnings", {"account_id": dev}) == {}
    line = cli.refused("earnings", "withdraw", "--token", world.token, who="dev")
    assert f"no earnings to withdraw in token '{world.token}'" in line

    # A deposited balance (what attached_usd pays from) goes back the same way.
    deposit = {"receiver_id": world.contract.account_id, "amount": str(3 * MILLION),
               "msg": json.dumps({"action": "deposit_balance"})}  # fmt: skip
    world.send(world.users["alice"], world.token, "ft_transfer_call", deposit, deposit=1)
    shown = cli.ok("balance", "show", "--token", world.token)
    assert shown == {"account_id": alice, "token_id": world.token, "balance": str(3 * MILLION)}
    tokens = world.ft_balance("alice")
    line = cli.refused("balance", "withdraw", "--token", world.token, "--amount", "4.")
    assert "cannot withdraw 4000000: your balance in" in line
    assert cli.ok("balance", "withdraw", "--token", world.token, "--amount", "1000000")[
        "amount"
    ] == ("1000000")
    assert world.ft_balance("alice") == tokens + MILLION
    assert world.view("get_user_balance", {"account_id": alice, "token_id": world.token}) == (
        str(2 * MILLION)
    )


def test_a_refund_the_token_refuses_waits_in_the_user_balance(cli: Cli, world: World) -> None:
    erin = world.id("erin")
    alice = world.users["alice"]
    world.send(alice, world.token, "ft_transfer", {"receiver_id": erin,
               "amount": str(10 * MILLION)}, deposit=1)  # fmt: skip
    nonce = cli.ok("key", "create", "--token", world.token, who="erin")["nonce"]
    cli.ok("key", "top-up", str(nonce), "--amount", "2.0", who="erin")
    world.send(alice, world.token, "freeze", {"account_id": erin})  # transfers to Erin fail now

    code, out, err = cli.run("key", "delete", str(nonce), who="erin")
    assert code == 0, err
    assert out.strip().endswith(f"but {world.token} refused the transfer, so the balance is in "
                                f"your OutLayer user balance: outlayer balance withdraw --token "
                                f"{world.token}")  # fmt: skip
    assert world.view("get_payment_key", {"owner": erin, "nonce": nonce}) is None
    parked = {"account_id": erin, "token_id": world.token}
    assert world.view("get_user_balance", parked) == str(2 * MILLION)
    line = cli.refused("balance", "withdraw", "--token", world.token, who="erin")
    assert line == (f"outlayer balance withdraw: {world.token} refused the transfer; your "
                    "balance was restored")  # fmt: skip
    assert world.view("get_user_balance", parked) == str(2 * MILLION)
    assert world.ft_balance("erin") == 8 * MILLION


def test_key_files_accounts_and_nodes_that_are_wrong_say_so(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    ghost = Signer("ghost.localnet", nacl.signing.SigningKey.generate())
    ghost.save(tmp_path / "ghost.json")
    stranger = Signer(world.id("alice"), nacl.signing.SigningKey.generate())
    stranger.save(tmp_path / "stranger.json")
    (tmp_path / "broken.json").write_text("{not json")
    create = ("project", "create", "p", "--wasm-sha256", "ab" * 32)
    line = cli.refused(*create, "--key-file", str(tmp_path / "ghost.json"), who=None, code=2)
    assert line.endswith(f"account ghost.localnet (from {tmp_path / 'ghost.json'}) does not "
                         f"exist on {world.url}")  # fmt: skip
    line = cli.refused(*create, "--key-file", str(tmp_path / "stranger.json"), who=None, code=2)
    assert line.endswith(f"(from {tmp_path / 'stranger.json'}) is not an access key of "
                         f"{world.id('alice')} on {world.url}")  # fmt: skip
    line = cli.refused(*create, "--key-file", str(tmp_path / "broken.json"), who=None, code=2)
    assert f"cannot read key file {tmp_path / 'broken.json'}" in line
    line = cli.refused("project", "list", "--account", "x.localnet", "--contract",
                       "nowhere.localnet", who=None, code=2)  # fmt: skip
    assert line.endswith(f"nowhere.localnet does not exist on {world.url} (is --contract right?)")
    line = cli.refused("project", "create", "p", "--wasm-sha256", "ab" * 32, "--contract",
                       world.id("bob"), who="carol")  # fmt: skip
    assert line.endswith(f"{world.id('bob')} refused create_project: CodeDoesNotExist: "
                         f"{world.id('bob')} has no contract")  # fmt: skip
    down = main(["project", "list", "--account", "x.localnet", "--rpc", "http://127.0.0.1:9"])
    assert down == 2
    assert "NEAR RPC at http://127.0.0.1:9 did not answer" in cli.capsys.readouterr().err
    for owner in ("carol", "alice"):
        assert world.view("get_project", {"project_id": f"{world.id(owner)}/p"}) is None


def readme_steps() -> list[str]:
    """The shell commands of the README's self-service block, comments dropped."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("### Self-service from the command line", 1)[1].split("```sh\n", 1)[1]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.split("```", 1)[0].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_self_service_steps_run_in_order(tmp_path: Path) -> None:
    """On a chain as `make run` leaves it (alice.localnet holds the development stablecoin and
    payment key 1 in it, so the README's keys are 2 and on); only the key file's folder and
    the node's port differ."""
    built_contract("outlayer")
    with running_localnet(tmp_path) as (url, root):
        rpc = NearRpc(url)
        contract, _ = provision(rpc, root, tmp_path / "keys", lambda _: None)
        alice = account(rpc, root, "alice", tmp_path / "keys", lambda _: None)
        token = provision_stablecoin(rpc, root, tmp_path / "keys", outlayer=contract,
                                     holder=alice, log=lambda _: None)  # fmt: skip
        assert create_funded_key(rpc, alice, contract.account_id, token, 10**8)[0] == 1
        rpc.close()
        steps = readme_steps()
        assert steps[0] == "KEY=~/.outlayer/dev/keys/alice.localnet.json"
        env = {**os.environ, "KEY": str(tmp_path / "keys" / f"{alice.account_id}.json")}
        outlayer = str(Path(sys.executable).parent / "outlayer")
        outputs = []
        for step in steps[1:]:
            assert step.startswith(".venv/bin/outlayer "), step
            command = (step.replace(".venv/bin/outlayer", outlayer)
                       .replace("build/guests/", f"{REPO_ROOT}/build/guests/")
                       + f" --rpc {url}")  # fmt: skip
            done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                  timeout=120, check=False, env=env, cwd=tmp_path)  # fmt: skip
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            outputs.append(done.stdout)
        assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600
        assert outputs[3].startswith("alice.localnet/hello  version 1 of 2 active")
        assert "balance 0.5 NEAR; at most 0.01 NEAR a call" in outputs[6]
        assert outputs[-1].strip() == "alice.localnet has no earnings"
