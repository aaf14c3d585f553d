"""Gas of the register contract's on-chain TDX verification, step by step, on localnet.

The real Intel quote and collateral (tests/vectors/tdx/), the chain's clock at
2025-06-25 (inside the collateral's validity). Each call gets 300 Tgas; a verification that
needs more continues in the next call. Prints a Markdown table (pasted into docs/performance.md).
"""

from __future__ import annotations

import json
from typing import Any

from bench._common import contract_bytes
from localnet.chain import Chain
from localnet.node import NEAR, Localnet, TxResult
from outlayer.attestation import verify_quote
from tests.vectors import TDX as VECTORS

TGAS = 10**12
VALID_AT = 1750809600
REGISTER, OWNER, OPERATOR = "register.test", "owner.test", "operator.test"
KEYS = {"identity_key": "11" * 32, "tls_spki": "30" * 91}


def main() -> None:
    quote = (VECTORS / "tdx_quote").read_bytes()
    collateral_text = (VECTORS / "tdx_quote_collateral.json").read_text()
    measured = verify_quote(quote, collateral_text, VALID_AT).measurements
    ln = Localnet(Chain(genesis_time_ns=VALID_AT * 10**9))
    for account in (REGISTER, OWNER, OPERATOR):
        ln.create_account(account, 1000 * NEAR)
    rows: list[tuple[str, TxResult]] = []
    rows.append(("(deploy)", ln.deploy(REGISTER, contract_bytes("register"))))

    def call(signer: str, method: str, args: Any, label: str) -> None:
        for step in range(1, 11):
            result = ln.call(signer, REGISTER, method, args, gas=300 * TGAS)
            if not result.success:
                raise SystemExit(f"{method} failed: {result.failure}")
            answer = result.json()
            status = answer.get("status") if isinstance(answer, dict) else None
            done = (
                f", {answer['verified']}/{answer['of']} signatures" if status == "pending" else ""
            )
            rows.append((f"{label}: call {step}{done}", result))
            if status != "pending":
                return

    call(OWNER, "new", {"owner_id": OWNER, "accept_unbound_keys": True}, "new")
    collateral = json.loads(collateral_text)
    call(OWNER, "update_collateral", {"collateral": collateral}, "update_collateral (first)")
    call(OWNER, "update_collateral", {"collateral": collateral}, "update_collateral (again)")
    call(
        OWNER, "add_approved_measurements", {"measurements": measured}, "add_approved_measurements"
    )
    register = {"quote": quote.hex(), "keys": KEYS}
    call(OPERATOR, "register_keystore", register, "register_keystore (first)")
    call(OPERATOR, "register_keystore", register, "register_keystore (again)")
    print("| call | gas burnt (Tgas) | wasm instructions |")
    print("|---|---:|---:|")
    for label, result in rows:
        instructions = sum(o.instructions for o in result.outcomes)
        print(f"| {label} | {result.gas_burnt / TGAS:.1f} | {instructions:,} |")


if __name__ == "__main__":
    main()
