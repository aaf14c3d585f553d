"""Gas per contract method on localnet, and the compiled contract's size.

Every figure is a real call of the nearc-built contract: wasm instructions x NEAR's per-op cost
plus host-function costs. Prints a Markdown table (pasted into docs/performance.md).
"""

from __future__ import annotations

import json
from typing import Any

from bench._common import contract_bytes
from localnet.chain import YIELD_TIMEOUT_BLOCKS
from localnet.node import NEAR, Localnet, TxResult

TGAS = 10**12
OUTLAYER, OWNER, WORKER, ALICE, DEV, TOKEN = (
    "outlayer.test",
    "owner.test",
    "worker.test",
    "alice.test",
    "dev.test",
    "usdc.test",
)
SOURCE = {"repo": "https://github.com/alice/hello", "commit": "ab" * 20}
LIMITS = {"max_instructions": 1_000_000, "max_execution_seconds": 5}


def main() -> None:
    code = contract_bytes("outlayer")
    ln = Localnet()
    for account in (OUTLAYER, OWNER, WORKER, ALICE, DEV, TOKEN):
        ln.create_account(account, 1000 * NEAR)
    rows: list[tuple[str, TxResult]] = []

    def call(
        signer: str, method: str, args: Any = None, deposit: int = 0, label: str = ""
    ) -> TxResult:
        result = ln.call(signer, OUTLAYER, method, args, deposit=deposit)
        rows.append((label or method, result))
        return result

    rows.append(("(deploy)", ln.deploy(OUTLAYER, code)))
    call(OWNER, "new", {"owner_id": OWNER})
    call(OWNER, "add_worker", {"account_id": WORKER})
    call(
        OWNER,
        "set_pricing",
        {
            "base_fee": "1000000000000000000000",
            "per_instruction": "1000000",
            "per_ms": "10000000000000000000",
        },
    )
    cost = int(ln.view(OUTLAYER, "estimate_execution_cost", {"resource_limits": LIMITS}))
    request = {"code_source": SOURCE, "resource_limits": LIMITS, "input_data": "hi"}

    def resolved(output: str, label: str) -> None:
        sent = call(ALICE, "request_execution", request, cost, label="request_execution")
        request_id = _request_id(sent)
        used = {"instructions": 10, "time_ms": 1}
        body = {"request_id": request_id, "success": True, "output": output, "resources_used": used}
        call(WORKER, "resolve_execution", body, label=label)
        final = ln.result(sent.tx_hash)
        callback = [o for o in final.outcomes if o.executor_id == OUTLAYER][-1]
        rows.append(
            ("on_execution_response (callback, " + label.split("(")[1], _single(final, callback))
        )

    resolved("small", "resolve_execution (100 B output)")
    resolved("x" * 4000, "resolve_execution (4 KB output)")
    resolved("x" * 16000, "resolve_execution (16 KB output)")
    timed = call(ALICE, "request_execution", request, cost, label="request_execution")
    for _ in range(YIELD_TIMEOUT_BLOCKS):
        ln.chain.produce_block()
    ln.chain.run_until_idle()
    final = ln.result(timed.tx_hash)
    callback = [o for o in final.outcomes if o.executor_id == OUTLAYER][-1]
    rows.append(("on_execution_response (callback, timeout)", _single(final, callback)))
    call(
        ALICE,
        "store_secrets",
        {
            "repo": SOURCE["repo"],
            "profile": "p",
            "encrypted_secrets_base64": "c2VjcmV0",
            "access": {"AllowAll": {}},
        },
        NEAR,
    )
    call(ALICE, "delete_secrets", {"repo": SOURCE["repo"], "profile": "p"})

    print(f"contract size: {len(code):,} bytes (build/contracts/outlayer.wasm)\n")
    print("| method | gas burnt (Tgas) | wasm instructions |")
    print("|---|---|---|")
    seen: set[str] = set()
    for label, result in rows:
        if label in seen:
            continue
        seen.add(label)
        first = result.outcomes[0]
        print(f"| {label} | {first.gas_burnt / TGAS:.2f} | {first.instructions:,} |")


def _request_id(result: TxResult) -> int:
    for log in result.logs:
        if log.startswith("EVENT_JSON:"):
            return int(json.loads(log[len("EVENT_JSON:") :])["data"][0]["request_id"])
    raise RuntimeError("no execution_requested event")


def _single(result: TxResult, outcome: Any) -> TxResult:
    return TxResult(result.tx_hash, True, True, None, None, [outcome])


if __name__ == "__main__":
    main()
