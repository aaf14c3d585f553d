"""The coin flip example, settled on localnet: a player calls the coin-flip contract
(contract/coin_flip), which asks OutLayer to run the Rust SDK's coin flip
(sdk/rust/examples/coin-flip, built by set-up); the keystore proves the draw for that request
and the player's seed, and the contract settles the game only with randomness bound to its own
request. Anyone can check the proof afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.demo import account
from outlayer import vrf
from outlayer.config import Settings
from outlayer.near.actions import DeployContractAction
from outlayer.near.keys import Signer
from outlayer.v1 import keystore_pb2
from services.executor import Executor
from tests.capabilities.platform import Chain0, Platform, running_platform
from tests.conftest import built_contract, built_guest

REPO = "https://github.com/alice/coin-flip"
COMMIT = "6" * 40
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10}


def modules(_chain: Chain0) -> dict[tuple[str, str], bytes]:
    return {(REPO, COMMIT): built_guest("coin_flip_rust")}


@pytest.fixture
def game(tmp_path: Path, settings: Settings, executor: Executor) -> Iterator[tuple[Platform, str]]:
    with running_platform(tmp_path, settings, executor, modules) as platform:
        flips = account(platform.rpc, platform.root, "flips", platform.keys, log=lambda _: None)
        platform.rpc.send(
            flips, flips.account_id, [DeployContractAction(built_contract("coin_flip"))]
        )
        settings_of_game = {"outlayer_id": platform.contract,
                            "code_source": {"repo": REPO, "commit": COMMIT}}  # fmt: skip
        made = platform.rpc.function_call(flips, flips.account_id, "new", settings_of_game)
        assert made.failure is None, made.failure
        yield platform, flips.account_id


def flip(platform: Platform, contract: str, player: Signer, guess: str,
         deposit: int | None = None) -> dict[str, Any]:  # fmt: skip
    cost = int(platform.rpc.view(platform.contract, "estimate_execution_cost",
                                 {"resource_limits": LIMITS}))  # fmt: skip
    sent = platform.rpc.function_call(player, contract, "flip", {"guess": guess},
                                      deposit=cost if deposit is None else deposit,
                                      wait_until="INCLUDED")  # fmt: skip
    # The contract's call to OutLayer runs a block later: work until the game is settled.
    deadline = time.monotonic() + 60
    while True:
        platform.work()
        outcome = platform.rpc.tx_status(sent.tx_hash, player.account_id)
        if outcome.raw.get("final_execution_status") == "FINAL" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert outcome.failure is None, outcome.failure
    settled: dict[str, Any] = outcome.value
    return settled


def test_a_flip_is_settled_with_randomness_bound_to_its_request(
    game: tuple[Platform, str],
) -> None:
    platform, contract = game
    alice, bob = platform.alice, platform.bob
    played = flip(platform, contract, alice, "heads")
    assert played["settled"] is True, played
    randomness = played["randomness"]
    origin = f"near:{platform.contract}:{played['request_id']}"
    assert randomness["origin"] == origin and randomness["prover"] == "keystore"
    assert bytes.fromhex(randomness["seed"]) == alice.account_id.encode()
    # Anyone checks it: the keystore's published VRF key, the request and the player's seed.
    key = platform.keystore.GetVrfPublicKey(keystore_pb2.GetVrfPublicKeyRequest()).public_key
    output = vrf.verify(bytes.fromhex(key), vrf.alpha_for(origin, alice.account_id.encode()),
                        bytes.fromhex(randomness["proof"]))  # fmt: skip
    assert output.hex() == randomness["output"]
    side = "heads" if output[0] & 1 == 0 else "tails"
    assert played["outcome"] == side and played["won"] == (side == "heads")
    assert platform.rpc.view(contract, "get_game", {"player": alice.account_id}) == played
    score = platform.rpc.view(contract, "get_score", {"player": alice.account_id})
    assert score == {"won": int(played["won"]), "lost": int(not played["won"])}

    # Another player, another request: a draw of its own, settled the same way.
    other = flip(platform, contract, bob, "tails")
    assert other["settled"] is True and other["request_id"] != played["request_id"]
    assert other["randomness"]["output"] != randomness["output"]


def test_a_refused_request_settles_nothing(game: tuple[Platform, str]) -> None:
    platform, contract = game
    before = platform.rpc.view(contract, "get_score", {"player": platform.alice.account_id})
    refused = flip(platform, contract, platform.alice, "heads", deposit=1)  # far too little
    assert refused["settled"] is False and refused["error"]["type"] == "request_failed"
    assert platform.rpc.view(contract, "get_score", {"player": platform.alice.account_id}) == before
    bad = platform.rpc.function_call(platform.alice, contract, "flip", {"guess": "edge"},
                                     deposit=10**24)  # fmt: skip
    assert bad.failure is not None and "heads" in bad.failure
