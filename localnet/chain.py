"""The chain: accounts, blocks, receipts, promises, data dependencies and yield/resume.

A transaction becomes a receipt; a receipt runs in the block after it was created; promises a
call creates become receipts for the next block; a receipt that waits for data (a callback, or
a yielded promise) runs once all of its data has arrived. Yields time out after
``YIELD_TIMEOUT_BLOCKS`` blocks, delivering a failure to the callback, as on NEAR.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from localnet import gas
from localnet.state import AccessKey, Account
from localnet.vm import RESULT_FAILED, RESULT_SUCCESS, CallContext, ContractVM, PromiseNode
from outlayer.near.actions import (
    Action,
    AddKeyAction,
    CreateAccountAction,
    DeleteAccountAction,
    DeleteKeyAction,
    DeployContractAction,
    FunctionCallAction,
    TransferAction,
)

YIELD_TIMEOUT_BLOCKS = 200
SYSTEM_ACCOUNT = "system"
ED25519_PREFIX = b"\x00"


class ChainError(Exception):
    """A transaction or query the chain refuses (bad signer, nonce, balance, unknown account)."""


@dataclass
class Receipt:
    receipt_id: bytes
    predecessor_id: str
    receiver_id: str
    signer_id: str
    signer_public_key: bytes
    actions: list[Action]
    tx_hash: bytes
    input_data_ids: list[bytes] = field(default_factory=list)
    output_data_receivers: list[tuple[bytes, str]] = field(default_factory=list)
    is_refund: bool = False


@dataclass
class Outcome:
    receipt_id: bytes
    executor_id: str
    block_height: int
    success: bool
    return_data: bytes | None = None  # SuccessValue
    return_receipt: bytes | None = None  # SuccessReceiptId
    failure: str | None = None
    logs: list[str] = field(default_factory=list)
    gas_burnt: int = 0
    tokens_burnt: int = 0
    instructions: int = 0
    receipt_ids: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class DataChange:
    """One contract storage write (value None: a removal), as ``EXPERIMENTAL_changes`` lists it."""

    account_id: str
    key: bytes
    value: bytes | None
    receipt_id: bytes


@dataclass
class Block:
    height: int
    hash: bytes
    prev_hash: bytes
    timestamp_ns: int
    tx_hashes: list[bytes] = field(default_factory=list)
    receipt_ids: list[bytes] = field(default_factory=list)
    data_changes: list[DataChange] = field(default_factory=list)


@dataclass
class TransactionRecord:
    hash: bytes
    signer_id: str
    public_key: bytes
    nonce: int
    receiver_id: str
    actions: list[Action]
    block_height: int
    receipt_id: bytes
    signature: bytes = b""


@dataclass
class _Yield:
    account_id: str
    deadline_height: int


class Chain:
    def __init__(
        self,
        *,
        genesis_time_ns: int = 1_700_000_000 * 10**9,
        gas_price: int = 0,
        clock: Callable[[], int] | None = None,
    ):
        """``clock`` (nanoseconds since the epoch): blocks are stamped with it, as NEAR's are
        with the wall clock; without it each block is one second after the last (a
        deterministic clock, for tests)."""
        self.vm = ContractVM()
        self.accounts: dict[str, Account] = {}
        self.gas_price = gas_price
        self.block_time_ns = 1_000_000_000
        self._clock = clock
        if clock is not None:
            genesis_time_ns = clock()
        genesis = Block(0, hashlib.sha256(b"localnet-genesis").digest(), bytes(32), genesis_time_ns)
        self.blocks: list[Block] = [genesis]
        self._incoming: list[Receipt] = []
        self._postponed: dict[bytes, Receipt] = {}
        self._data: dict[bytes, tuple[int, bytes]] = {}
        self._yields: dict[bytes, _Yield] = {}
        self._time_offset_ns = 0
        self.outcomes: dict[bytes, Outcome] = {}
        self.transactions: dict[bytes, TransactionRecord] = {}
        self._receipt_tx: dict[bytes, bytes] = {}
        self._predecessors: dict[bytes, str] = {}

    # --- state ----------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.blocks[-1].height

    @property
    def head(self) -> Block:
        return self.blocks[-1]

    def account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise ChainError(f"account {account_id} does not exist") from None

    def storage_get(self, account_id: str, key: bytes) -> bytes | None:
        return self.accounts[account_id].storage.get(key)

    def is_pending_yield(self, account_id: str, data_id: bytes) -> bool:
        pending = self._yields.get(data_id)
        return pending is not None and pending.account_id == account_id

    def storage_usage(self, account: Account) -> int:
        records = sum(len(k) + len(v) + gas.DATA_RECORD_BYTES for k, v in account.storage.items())
        keys = len(account.access_keys) * (32 + 1 + 8 + gas.DATA_RECORD_BYTES)
        return gas.ACCOUNT_BYTES + len(account.code) + records + keys

    def advance_time(self, seconds: float) -> None:
        """Moves the chain's clock forward (the next block's timestamp jumps by this much)."""
        self._time_offset_ns += int(seconds * 1e9)

    @property
    def pending_work(self) -> bool:
        """True while receipts are waiting to run (yielded promises waiting to be resumed do not
        count: they wait for the outside world, or for their timeout)."""
        return bool(self._incoming)

    # --- transactions ---------------------------------------------------------------------------
    def submit(
        self,
        *,
        signer_id: str,
        public_key: bytes,
        nonce: int,
        receiver_id: str,
        actions: Sequence[Action],
        tx_hash: bytes | None = None,
        signature: bytes = b"",
    ) -> bytes:
        """Checks the access key and nonce, takes the deposits, and queues the receipt."""
        signer = self.account(signer_id)
        key = signer.access_keys.get(public_key)
        if key is None:
            raise ChainError(f"InvalidAccessKeyError: {signer_id} has no such access key")
        if nonce <= key.nonce:
            raise ChainError(f"InvalidNonce: nonce {nonce} must be larger than {key.nonce}")
        if key.function_call is not None:
            self._check_function_call_key(key, receiver_id, actions)
        deposit = sum(_deposit_of(a) for a in actions)
        if deposit > signer.amount:
            raise ChainError(
                f"NotEnoughBalance: {signer_id} has {signer.amount} yoctoNEAR, needs {deposit}"
            )
        key.nonce = nonce
        signer.amount -= deposit
        tx_hash = tx_hash or os.urandom(32)
        receipt = Receipt(
            receipt_id=hashlib.sha256(b"receipt" + tx_hash).digest(),
            predecessor_id=signer_id,
            receiver_id=receiver_id,
            signer_id=signer_id,
            signer_public_key=ED25519_PREFIX + public_key,
            actions=list(actions),
            tx_hash=tx_hash,
        )
        record = TransactionRecord(
            tx_hash, signer_id, public_key, nonce, receiver_id, list(actions),
            self.height + 1, receipt.receipt_id, signature,
        )  # fmt: skip
        self.transactions[tx_hash] = record
        self._receipt_tx[receipt.receipt_id] = tx_hash
        self._incoming.append(receipt)
        return tx_hash

    @staticmethod
    def _check_function_call_key(
        key: AccessKey, receiver_id: str, actions: Sequence[Action]
    ) -> None:
        assert key.function_call is not None
        _allowance, allowed_receiver, methods = key.function_call
        for action in actions:
            if not isinstance(action, FunctionCallAction):
                raise ChainError("InvalidAccessKeyError: a function-call key can only call")
            if action.deposit:
                raise ChainError("InvalidAccessKeyError: a function-call key cannot attach NEAR")
            if receiver_id != allowed_receiver:
                raise ChainError(
                    f"InvalidAccessKeyError: this key may only call {allowed_receiver}"
                )
            if methods and action.method_name not in methods:
                raise ChainError(
                    f"InvalidAccessKeyError: this key may not call {action.method_name}"
                )

    # --- blocks ---------------------------------------------------------------------------------
    def _next_timestamp(self, prev: Block) -> int:
        if self._clock is None:
            return prev.timestamp_ns + self.block_time_ns
        return max(prev.timestamp_ns + 1, self._clock())  # never backwards

    def produce_block(self) -> Block:
        prev = self.head
        block = Block(
            height=prev.height + 1,
            hash=hashlib.sha256(prev.hash + (prev.height + 1).to_bytes(8, "little")).digest(),
            prev_hash=prev.hash,
            timestamp_ns=self._next_timestamp(prev) + self._time_offset_ns,
        )
        self._time_offset_ns = 0
        self.blocks.append(block)
        for data_id, pending in list(self._yields.items()):
            if pending.deadline_height <= block.height:
                del self._yields[data_id]
                self._deliver(data_id, RESULT_FAILED, b"")
        batch, self._incoming = self._incoming, []
        for receipt in batch:
            block.receipt_ids.append(receipt.receipt_id)
            tx = self._receipt_tx.get(receipt.receipt_id)
            if tx is not None and self.transactions[tx].receipt_id == receipt.receipt_id:
                block.tx_hashes.append(tx)
            self._execute(receipt, block)
        return block

    def run_until_idle(self, max_blocks: int = 1000) -> int:
        produced = 0
        while self.pending_work and produced < max_blocks:
            self.produce_block()
            produced += 1
        return produced

    # --- receipts -------------------------------------------------------------------------------
    def _execute(self, receipt: Receipt, block: Block) -> None:
        receiver_existed = receipt.receiver_id in self.accounts
        snapshot = copy.deepcopy(self.accounts.get(receipt.receiver_id))
        outcome = Outcome(receipt.receipt_id, receipt.receiver_id, block.height, success=True)
        new_receipts: list[Receipt] = []
        changes_before = len(block.data_changes)
        try:
            for action in receipt.actions:
                self._apply(
                    receipt, action=action, block=block, outcome=outcome, new_receipts=new_receipts
                )
            account = self.accounts.get(receipt.receiver_id)
            if account is not None:
                needed = self.storage_usage(account) * gas.STORAGE_AMOUNT_PER_BYTE
                if account.amount < needed:
                    raise ChainError(
                        f"LackBalanceForState: {receipt.receiver_id} needs {needed} yoctoNEAR "
                        f"staked for its storage, has {account.amount}"
                    )
        except ChainError as exc:
            del block.data_changes[changes_before:]  # a failed receipt changed nothing
            outcome.success = False
            outcome.failure = str(exc)
            outcome.return_data = None
            outcome.return_receipt = None
            new_receipts = []
            if receiver_existed and snapshot is not None:
                self.accounts[receipt.receiver_id] = snapshot
            else:
                self.accounts.pop(receipt.receiver_id, None)
            self._refund(receipt, new_receipts)
        if self.gas_price and outcome.gas_burnt and receipt.signer_id in self.accounts:
            outcome.tokens_burnt = outcome.gas_burnt * self.gas_price
            payer = self.accounts[receipt.signer_id]
            payer.amount -= min(payer.amount, outcome.tokens_burnt)
        self.outcomes[receipt.receipt_id] = outcome
        self._predecessors[receipt.receipt_id] = receipt.predecessor_id
        tx_hash = self._receipt_tx.get(receipt.receipt_id)
        for child in new_receipts:
            outcome.receipt_ids.append(child.receipt_id)
            if tx_hash is not None:
                self._receipt_tx[child.receipt_id] = tx_hash
            self._queue(child)
        if outcome.return_receipt is None:
            status = RESULT_SUCCESS if outcome.success else RESULT_FAILED
            for data_id, _ in receipt.output_data_receivers:
                self._deliver(data_id, status, outcome.return_data or b"")
        for data_id in receipt.input_data_ids:  # each datum feeds exactly one receipt
            self._data.pop(data_id, None)

    def _apply(
        self,
        receipt: Receipt,
        *,
        action: Action,
        block: Block,
        outcome: Outcome,
        new_receipts: list[Receipt],
    ) -> None:
        receiver = receipt.receiver_id
        if isinstance(action, CreateAccountAction):
            if receiver in self.accounts:
                raise ChainError(f"AccountAlreadyExists: {receiver}")
            self.accounts[receiver] = Account(amount=0)
            return
        account = self.account(receiver)
        if isinstance(action, TransferAction):
            account.amount += action.deposit
        elif isinstance(action, DeployContractAction):
            account.code = action.code
            outcome.gas_burnt += gas.DEPLOY_CONTRACT_BASE + gas.DEPLOY_CONTRACT_BYTE * len(
                action.code
            )
        elif isinstance(action, AddKeyAction):
            account.access_keys[_raw_key(action.public_key)] = AccessKey(
                action.nonce, action.function_call
            )
        elif isinstance(action, DeleteKeyAction):
            if account.access_keys.pop(_raw_key(action.public_key), None) is None:
                raise ChainError(f"DeleteKeyDoesNotExist: on {receiver}")
        elif isinstance(action, DeleteAccountAction):
            del self.accounts[receiver]
            new_receipts.append(
                self._transfer_receipt(receiver, action.beneficiary_id, account.amount, receipt)
            )
        elif isinstance(action, FunctionCallAction):
            account.amount += action.deposit
            self._call(receipt, action, account, block=block, outcome=outcome, new=new_receipts)

    def _call(
        self,
        receipt: Receipt,
        action: FunctionCallAction,
        account: Account,
        *,
        block: Block,
        outcome: Outcome,
        new: list[Receipt],
    ) -> None:
        if not account.code:
            raise ChainError(f"CodeDoesNotExist: {receipt.receiver_id} has no contract")
        ctx = self._context(
            receipt.receiver_id, account, action.args, block, receipt=receipt, action=action
        )
        result = self.vm.call(account.code, action.method_name, ctx, self)
        outcome.logs.extend(result.logs)
        outcome.gas_burnt += result.gas_burnt
        outcome.instructions += result.instructions
        if not result.ok:
            raise ChainError(f"FunctionCallError: {result.error}")
        for key, value in result.storage_writes.items():
            block.data_changes.append(
                DataChange(receipt.receiver_id, key, value, receipt.receipt_id)
            )
            if value is None:
                account.storage.pop(key, None)
            else:
                account.storage[key] = value
        account.amount = result.balance
        for data_id, payload in result.resumes:
            self._yields.pop(data_id, None)
            self._deliver(data_id, RESULT_SUCCESS, payload)
        created = self._receipts_for(receipt, result.promises, block)
        new.extend(r for r in created if r is not None)
        outcome.return_data = result.return_data
        if result.return_promise is not None:
            target = created[result.return_promise]
            assert target is not None
            target.output_data_receivers.extend(receipt.output_data_receivers)
            outcome.return_receipt = target.receipt_id
            outcome.return_data = None

    def _receipts_for(
        self, parent: Receipt, promises: list[PromiseNode], block: Block
    ) -> list[Receipt | None]:
        created: list[Receipt | None] = []
        for index, node in enumerate(promises):
            if node.is_join:
                created.append(None)
                continue
            child = Receipt(
                receipt_id=hashlib.sha256(parent.receipt_id + index.to_bytes(4, "little")).digest(),
                predecessor_id=parent.receiver_id,
                receiver_id=node.receiver_id,
                signer_id=parent.signer_id,
                signer_public_key=parent.signer_public_key,
                actions=node.actions,
                tx_hash=parent.tx_hash,
            )
            for dependency in node.after:
                targets = (
                    promises[dependency].members if promises[dependency].is_join else [dependency]
                )
                for target in targets:
                    source = created[target]
                    assert source is not None
                    data_id = os.urandom(32)
                    source.output_data_receivers.append((data_id, child.receiver_id))
                    child.input_data_ids.append(data_id)
            if node.yield_data_id is not None:
                child.input_data_ids.append(node.yield_data_id)
                self._yields[node.yield_data_id] = _Yield(
                    parent.receiver_id, block.height + YIELD_TIMEOUT_BLOCKS
                )
            created.append(child)
        return created

    def _queue(self, receipt: Receipt) -> None:
        if all(d in self._data for d in receipt.input_data_ids):
            self._incoming.append(receipt)
        else:
            self._postponed[receipt.receipt_id] = receipt

    def _deliver(self, data_id: bytes, status: int, payload: bytes) -> None:
        self._data[data_id] = (status, payload)
        for receipt_id, receipt in list(self._postponed.items()):
            if all(d in self._data for d in receipt.input_data_ids):
                del self._postponed[receipt_id]
                self._incoming.append(receipt)

    def _refund(self, receipt: Receipt, new_receipts: list[Receipt]) -> None:
        deposit = sum(_deposit_of(a) for a in receipt.actions)
        if deposit and receipt.predecessor_id != SYSTEM_ACCOUNT:
            refund = self._transfer_receipt(
                SYSTEM_ACCOUNT, receipt.predecessor_id, deposit, receipt
            )
            refund.is_refund = True
            new_receipts.append(refund)

    def _transfer_receipt(
        self, sender: str, receiver: str, amount: int, parent: Receipt
    ) -> Receipt:
        return Receipt(
            receipt_id=os.urandom(32),
            predecessor_id=sender,
            receiver_id=receiver,
            signer_id=parent.signer_id,
            signer_public_key=parent.signer_public_key,
            actions=[TransferAction(amount)],
            tx_hash=parent.tx_hash,
        )

    # --- queries --------------------------------------------------------------------------------
    def view(self, account_id: str, method: str, args: bytes) -> tuple[bytes | None, list[str]]:
        account = self.account(account_id)
        if not account.code:
            raise ChainError(f"CodeDoesNotExist: {account_id} has no contract")
        ctx = self._context(account_id, account, args, self.head)
        result = self.vm.call(account.code, method, ctx, self)
        if not result.ok:
            raise ChainError(f"FunctionCallError: {result.error}")
        return result.return_data, result.logs

    def _context(
        self,
        account_id: str,
        account: Account,
        args: bytes,
        block: Block,
        *,
        receipt: Receipt | None = None,
        action: FunctionCallAction | None = None,
    ) -> CallContext:
        """What a call sees; without a receipt it is a view (no signer, no deposit, no writes)."""
        return CallContext(
            current_account_id=account_id,
            signer_account_id=receipt.signer_id if receipt else "",
            signer_public_key=receipt.signer_public_key if receipt else b"",
            predecessor_account_id=receipt.predecessor_id if receipt else "",
            input=args,
            block_height=block.height,
            block_timestamp=block.timestamp_ns,
            account_balance=account.amount,
            account_locked_balance=account.locked,
            storage_usage=self.storage_usage(account),
            attached_deposit=action.deposit if action else 0,
            prepaid_gas=min(action.gas, gas.MAX_GAS_PER_CALL) if action else gas.MAX_GAS_PER_CALL,
            random_seed=(
                hashlib.sha256(block.hash + receipt.receipt_id).digest() if receipt else bytes(32)
            ),
            is_view=receipt is None,
            promise_results=[self._data[d] for d in receipt.input_data_ids] if receipt else [],
        )

    def tx_hash_of(self, receipt_id: bytes) -> bytes | None:
        return self._receipt_tx.get(receipt_id)

    def predecessor_of(self, receipt_id: bytes) -> str | None:
        return self._predecessors.get(receipt_id)

    def receipts_of(self, tx_hash: bytes) -> list[Outcome]:
        return [o for rid, o in self.outcomes.items() if self._receipt_tx.get(rid) == tx_hash]

    def final_outcome(self, tx_hash: bytes) -> Outcome | None:
        """The outcome that carries the transaction's result, following SuccessReceiptId."""
        record = self.transactions[tx_hash]
        outcome = self.outcomes.get(record.receipt_id)
        while outcome is not None and outcome.return_receipt is not None:
            outcome = self.outcomes.get(outcome.return_receipt)
        return outcome

    def is_final(self, tx_hash: bytes) -> bool:
        """True when every receipt the transaction caused has run."""
        outcomes = self.receipts_of(tx_hash)
        if not outcomes:
            return False
        waiting = [r for r in [*self._incoming, *self._postponed.values()] if r.tx_hash == tx_hash]
        return not waiting and self.final_outcome(tx_hash) is not None


def _deposit_of(action: Action) -> int:
    if isinstance(action, TransferAction | FunctionCallAction):
        return action.deposit
    return 0


def _raw_key(public_key: bytes) -> bytes:
    return public_key[1:] if len(public_key) == 33 else public_key


def json_args(args: Any) -> bytes:
    return args if isinstance(args, bytes) else json.dumps(args).encode()
