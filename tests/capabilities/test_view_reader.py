"""The view reader example (sdk/rust/examples/view-reader, built by set-up), on localnet: a
request's guest reads a contract's view method through the platform's RPC, and a contract that
does not exist is an answer it can handle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.demo import send_request, wait_final
from outlayer.config import Settings
from services.executor import Executor
from tests.capabilities.platform import Chain0, Platform, running_platform
from tests.conftest import built_guest

REPO = "https://github.com/alice/view-reader"
COMMIT = "7" * 40
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10}


@pytest.fixture
def platform(tmp_path: Path, settings: Settings, executor: Executor) -> Iterator[Platform]:
    def modules(_chain: Chain0) -> dict[tuple[str, str], bytes]:
        return {(REPO, COMMIT): built_guest("view_reader_rust")}

    with running_platform(tmp_path, settings, executor, modules) as running:
        yield running


def read(platform: Platform, text: str) -> dict[str, Any]:
    sent = send_request(platform.rpc, platform.alice, platform.contract,
                        code_source={"repo": REPO, "commit": COMMIT}, input_data=text,
                        limits=LIMITS)  # fmt: skip
    platform.work()
    result: dict[str, Any] = wait_final(platform.rpc, sent.tx_hash, platform.alice.account_id).value
    return result


def test_a_request_reads_a_view_method(platform: Platform) -> None:
    result = read(platform, f"{platform.contract} get_pricing")
    assert result["status"] == "success", result
    output = result["output"]
    assert output["contract"] == platform.contract and output["method"] == "get_pricing"
    assert output["value"] == platform.rpc.view(platform.contract, "get_pricing", {})
    assert output["block_height"] > 0
    assert result["resources_used"]["instructions"] > 2 * 50_000  # two host calls, paid


def test_a_missing_contract_is_an_answer(platform: Platform) -> None:
    result = read(platform, "nobody-here.localnet get_anything")
    assert result["status"] == "success", result
    assert "no account nobody-here.localnet" in result["output"]["value"]["not_found"]
