"""The library face of localnet: accounts with keys, deploys, calls and views in a few lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from localnet.chain import Chain, ChainError, Outcome, json_args
from localnet.gas import TERA
from localnet.state import AccessKey, Account
from outlayer.near.actions import Action, DeployContractAction, FunctionCallAction

NEAR = 10**24
DEFAULT_GAS = 300 * TERA


@dataclass
class TxResult:
    tx_hash: bytes
    final: bool
    success: bool
    return_data: bytes | None
    failure: str | None
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def logs(self) -> list[str]:
        return [log for outcome in self.outcomes for log in outcome.logs]

    @property
    def gas_burnt(self) -> int:
        return sum(outcome.gas_burnt for outcome in self.outcomes)

    @property
    def tokens_burnt(self) -> int:
        return sum(outcome.tokens_burnt for outcome in self.outcomes)

    def json(self) -> Any:
        if not self.success:
            raise ChainError(f"transaction failed: {self.failure}")
        return json.loads(self.return_data) if self.return_data else None


class Localnet:
    """An in-process NEAR chain. Calls run until the chain is idle (yields wait for a resume)."""

    def __init__(self, chain: Chain | None = None) -> None:
        self.chain = chain or Chain()
        self.keys: dict[str, nacl.signing.SigningKey] = {}

    def create_account(
        self, account_id: str, amount: int = 100 * NEAR, key: nacl.signing.SigningKey | None = None
    ) -> nacl.signing.SigningKey:
        if account_id in self.chain.accounts:
            raise ChainError(f"account {account_id} already exists")
        key = key or nacl.signing.SigningKey.generate()
        account = Account(amount=amount)
        account.access_keys[bytes(key.verify_key)] = AccessKey()
        self.chain.accounts[account_id] = account
        self.keys[account_id] = key
        return key

    def deploy(self, account_id: str, code: bytes) -> TxResult:
        return self.transact(account_id, account_id, [DeployContractAction(code)])

    def call(
        self,
        signer_id: str,
        receiver_id: str,
        method: str,
        args: Any = None,
        *,
        deposit: int = 0,
        gas: int = DEFAULT_GAS,
        wait: bool = True,
    ) -> TxResult:
        action = FunctionCallAction(method, json_args({} if args is None else args), gas, deposit)
        return self.transact(signer_id, receiver_id, [action], wait=wait)

    def transact(
        self, signer_id: str, receiver_id: str, actions: list[Action], wait: bool = True
    ) -> TxResult:
        key = self.keys[signer_id]
        public_key = bytes(key.verify_key)
        nonce = self.chain.account(signer_id).access_keys[public_key].nonce + 1
        tx_hash = self.chain.submit(
            signer_id=signer_id,
            public_key=public_key,
            nonce=nonce,
            receiver_id=receiver_id,
            actions=actions,
        )
        if wait:
            self.chain.run_until_idle()
        return self.result(tx_hash)

    def result(self, tx_hash: bytes) -> TxResult:
        final = self.chain.final_outcome(tx_hash)
        first = self.chain.outcomes.get(self.chain.transactions[tx_hash].receipt_id)
        failure = first.failure if first is not None and not first.success else None
        if final is not None and not final.success:
            failure = final.failure
        return TxResult(
            tx_hash=tx_hash,
            final=self.chain.is_final(tx_hash),
            success=final is not None and final.success and failure is None,
            return_data=final.return_data if final is not None else None,
            failure=failure,
            outcomes=self.chain.receipts_of(tx_hash),
        )

    def view(self, account_id: str, method: str, args: Any = None) -> Any:
        data, _ = self.chain.view(account_id, method, json_args({} if args is None else args))
        return json.loads(data) if data else None

    def balance(self, account_id: str) -> int:
        return self.chain.account(account_id).amount
