"""Access conditions: may this requester have these secrets? Evaluated before decrypting.

The contract stores a condition and checks its shape; this evaluates it, reading balances and
ownership through NEAR view calls. A user-written regular expression runs with a time limit, so
a pathological pattern is refused, not allowed to stall the keystore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import regex

from outlayer.errors import OutlayerError
from outlayer.near.rpc import NearRpc, NearRpcError

PATTERN_TIMEOUT_S = 0.05
MAX_DEPTH = 8


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class ChainView(Protocol):
    def near_balance(self, account_id: str) -> int: ...
    def ft_balance(self, contract_id: str, account_id: str) -> int: ...
    def nft_owned(self, contract_id: str, account_id: str, token_id: str | None) -> bool: ...


class RpcChainView:
    """The chain as NEAR JSON-RPC shows it (localnet or any NEAR node)."""

    def __init__(self, rpc: NearRpc) -> None:
        self._rpc = rpc

    def near_balance(self, account_id: str) -> int:
        try:
            return int(self._rpc.view_account(account_id)["amount"])
        except NearRpcError as exc:
            if exc.cause == "UNKNOWN_ACCOUNT":
                return 0
            raise

    def ft_balance(self, contract_id: str, account_id: str) -> int:
        return int(self._rpc.view(contract_id, "ft_balance_of", {"account_id": account_id}) or 0)

    def nft_owned(self, contract_id: str, account_id: str, token_id: str | None) -> bool:
        if token_id is not None:
            token = self._rpc.view(contract_id, "nft_token", {"token_id": token_id})
            return isinstance(token, dict) and token.get("owner_id") == account_id
        tokens = self._rpc.view(contract_id, "nft_tokens_for_owner",
                                {"account_id": account_id, "limit": 1})  # fmt: skip
        return bool(tokens)


def evaluate(
    condition: Any, requester: str, chain: ChainView, depth: int = 0, *, owner: str | None = None
) -> Decision:
    """``owner``: whose secrets these are. No condition at all means the owner alone (the
    contract's default too; AllowAll only when it was asked for)."""
    if condition is None and depth == 0:
        allowed = owner is not None and requester == owner
        return Decision(
            allowed,
            f"no access condition: only the owner{f' {owner}' if owner else ''} may use them",
        )
    if depth > MAX_DEPTH:
        return Decision(False, f"the condition is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(condition, dict) or len(condition) != 1:
        return Decision(False, "malformed access condition")
    kind, body = next(iter(condition.items()))
    try:
        return _evaluate(kind, body if isinstance(body, dict) else {}, requester, chain, depth)
    except (OutlayerError, ValueError, TypeError, KeyError) as exc:
        return Decision(False, f"{kind} could not be checked: {exc}")


def _evaluate(kind: str, body: dict[str, Any], requester: str, chain: ChainView,
              depth: int) -> Decision:  # fmt: skip
    if kind == "AllowAll":
        return Decision(True, "anyone may")
    if kind == "Whitelist":
        listed = requester in body.get("accounts", [])
        return Decision(listed, f"{requester} is {'on' if listed else 'not on'} the whitelist")
    if kind == "AccountPattern":
        try:
            matched = regex.fullmatch(str(body["pattern"]), requester, timeout=PATTERN_TIMEOUT_S)
        except TimeoutError:
            return Decision(False, "the account pattern took too long to match; simplify it")
        except regex.error as exc:
            return Decision(False, f"the account pattern is not a valid regular expression: {exc}")
        return Decision(
            matched is not None,
            f"{requester} {'matches' if matched else 'does not match'} the pattern",
        )
    if kind == "NearBalance":
        have, need = chain.near_balance(requester), int(body["min_balance"])
        return Decision(have >= need, f"{requester} holds {have} yoctoNEAR; {need} required")
    if kind == "FtBalance":
        contract = str(body["contract_id"])
        have, need = chain.ft_balance(contract, requester), int(body["min_balance"])
        return Decision(have >= need, f"{requester} holds {have} of {contract}; {need} required")
    if kind == "NftOwned":
        contract = str(body["contract_id"])
        token = body.get("token_id")
        owned = chain.nft_owned(contract, requester, None if token is None else str(token))
        what = f"token {token} of {contract}" if token is not None else f"an NFT of {contract}"
        return Decision(owned, f"{requester} {'owns' if owned else 'does not own'} {what}")
    if kind == "Logic":
        operator, inner = body.get("operator"), body.get("conditions") or []
        decisions = [evaluate(c, requester, chain, depth + 1) for c in inner]
        if operator == "Not" and len(decisions) == 1:
            return Decision(not decisions[0].allowed, f"not ({decisions[0].reason})")
        if operator == "And" and decisions:
            failed = [d for d in decisions if not d.allowed]
            return Decision(not failed, failed[0].reason if failed else "all conditions hold")
        if operator == "Or" and decisions:
            passed = [d for d in decisions if d.allowed]
            return Decision(bool(passed), passed[0].reason if passed else
                            "; ".join(d.reason for d in decisions))  # fmt: skip
        return Decision(False, "malformed Logic condition")
    return Decision(False, f"unknown access condition {kind!r}")
