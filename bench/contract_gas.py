"""Gas per contract method on localnet, and the compiled contract's size.

Every figure is a real call of the nearc-built contract: wasm instructions x NEAR's per-op cost
plus host-function costs. Prints a Markdown table (pasted into docs/performance.md).
"""

from __future__ import annotations

import hashlib
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
MILLION = 10**6  # the stablecoin's 6 decimals: 1 USD
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
    _self_service(ln, call, rows)

    print(f"contract size: {len(code):,} bytes (build/contracts/outlayer.wasm)\n")
    print("| method | gas burnt (Tgas) | wasm instructions |")
    print("|---|---|---|")
    seen: set[str] = {"(again)"}
    for label, result in rows:
        if label in seen:
            continue
        seen.add(label)
        first = result.outcomes[0]
        print(f"| {label} | {first.gas_burnt / TGAS:.2f} | {first.instructions:,} |")


def _self_service(ln: Localnet, call: Any, rows: list[tuple[str, TxResult]]) -> None:
    """Projects, payment keys, settlement and withdrawals (issue 13)."""
    assert ln.deploy(TOKEN, contract_bytes("test_token")).success
    supply = {"owner_id": ALICE, "total_supply": str(10**6 * MILLION)}
    assert ln.call(TOKEN, TOKEN, "new", supply).success
    call(OWNER, "add_token", {"token_id": TOKEN})

    wasm = {"wasm_sha256": "ab" * 32}
    call(DEV, "create_project", {"name": "echo", "code_source": SOURCE}, NEAR // 10)
    call(DEV, "add_version", {"name": "echo", **wasm}, NEAR // 10)
    call(DEV, "set_active_version", {"name": "echo", "version": 1})
    call(DEV, "delete_project", {"name": "echo"}, label="delete_project (2 versions)")
    call(DEV, "create_project", {"name": "big", **wasm}, NEAR // 10)
    for _ in range(99):
        call(DEV, "add_version", {"name": "big", **wasm}, NEAR // 10, label="add_version")
    call(DEV, "delete_project", {"name": "big"}, label="delete_project (100 versions, the cap)")

    def key(secret: str, token: str, label: str) -> int:
        body = {"key_hash": hashlib.sha256(secret.encode()).hexdigest(), "token_id": token,
                "max_per_call": str(NEAR), "allowed_projects": [f"{DEV}/echo"]}  # fmt: skip
        nonce: int = call(ALICE, "create_payment_key", body, NEAR // 10, label=label).json()[
            "nonce"
        ]
        return nonce

    usd_key = key("usd", TOKEN, "create_payment_key")
    msg = json.dumps({"action": "top_up_payment_key", "owner": ALICE, "nonce": usd_key})
    body = {"receiver_id": OUTLAYER, "amount": str(1000 * MILLION), "msg": msg}
    topped = ln.call(ALICE, TOKEN, "ft_transfer_call", body, deposit=1)
    ours = [o for o in topped.outcomes if o.executor_id == OUTLAYER]
    rows.append(("ft_on_transfer (top_up_payment_key)", _single(topped, ours[0])))
    near_key = key("near", "near", "create_payment_key")
    call(ALICE, "top_up_payment_key", {"nonce": near_key}, NEAR)

    ledger = 0

    def settle(entries: int, label: str) -> None:
        nonlocal ledger
        batch = []
        for _ in range(entries):
            ledger += 1
            batch.append({"ledger_id": ledger, "key_owner": ALICE, "key_nonce": usd_key,
                          "owner": DEV, "project": "echo", "amount": "90", "fee": "9"})  # fmt: skip
        body = {"batch_id": f"b{ledger}", "entries": batch}
        assert call(OWNER, "settle_https_usage", body, label=label).success

    settle(1, "settle_https_usage (1 entry)")
    settle(10, "settle_https_usage (10 entries)")
    settle(40, "settle_https_usage (40 entries, the cap)")
    near_entry = {"ledger_id": ledger + 1, "key_owner": ALICE, "key_nonce": near_key,
                  "owner": DEV, "project": "echo", "amount": str(NEAR // 100)}  # fmt: skip
    settled = call(OWNER, "settle_https_usage", {"entries": [near_entry]}, label="(again)")
    assert settled.success, settled.failure

    deposit = {
        "receiver_id": OUTLAYER,
        "amount": str(5 * MILLION),
        "msg": '{"action":"deposit_balance"}',
    }
    assert ln.call(ALICE, TOKEN, "ft_transfer_call", deposit, deposit=1).success
    for label, signer, method, args in (
        ("withdraw_developer_earnings (token)", DEV, "withdraw_developer_earnings",
         {"token_id": TOKEN, "amount": "1000"}),
        ("withdraw_developer_earnings (NEAR)", DEV, "withdraw_developer_earnings",
         {"token_id": "near"}),
        ("withdraw_user_balance", ALICE, "withdraw_user_balance", {"token_id": TOKEN}),
        ("delete_payment_key (token refund)", ALICE, "delete_payment_key", {"nonce": usd_key}),
    ):  # fmt: skip
        done = call(signer, method, args, label=label)
        assert done.success, done.failure
        if method != "delete_payment_key" and args["token_id"] != "near":
            back = [o for o in done.outcomes if o.executor_id == OUTLAYER][-1]
            rows.append(("on_withdraw (callback)", _single(done, back)))
    call(ALICE, "delete_payment_key", {"nonce": near_key}, label="delete_payment_key (NEAR)")


def _request_id(result: TxResult) -> int:
    for log in result.logs:
        if log.startswith("EVENT_JSON:"):
            return int(json.loads(log[len("EVENT_JSON:") :])["data"][0]["request_id"])
    raise RuntimeError("no execution_requested event")


def _single(result: TxResult, outcome: Any) -> TxResult:
    return TxResult(result.tx_hash, True, True, None, None, [outcome])


if __name__ == "__main__":
    main()
