"""Executes one NEAR function call: contract wasm under wasmtime with NEAR's host functions.

The VM never touches chain state directly: it reads through a :class:`StateView`, and returns a
:class:`CallOutcome` (storage writes, new promises, yield resumes, logs, gas) that the chain
commits only if the call succeeded.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import nacl.exceptions
import nacl.signing
import wasmtime
from Crypto.Hash import RIPEMD160, keccak

from localnet import gas
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

U64_MAX = 2**64 - 1
MAX_LOGS = 100
MAX_LOG_BYTES = 16 * 1024
MAX_YIELD_PAYLOAD = 1024
RESULT_SUCCESS, RESULT_FAILED = 1, 2


class HostError(Exception):
    """The contract broke a rule of the NEAR runtime; the call fails with this message."""


class ContractPanic(HostError):
    pass


class StateView(Protocol):
    def storage_get(self, account_id: str, key: bytes) -> bytes | None: ...
    def is_pending_yield(self, account_id: str, data_id: bytes) -> bool: ...


@dataclass
class CallContext:
    current_account_id: str
    signer_account_id: str
    signer_public_key: bytes  # borsh PublicKey: key type byte + 32 bytes
    predecessor_account_id: str
    input: bytes
    block_height: int
    block_timestamp: int
    account_balance: int
    account_locked_balance: int
    storage_usage: int
    attached_deposit: int
    prepaid_gas: int
    random_seed: bytes
    is_view: bool = False
    promise_results: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass
class PromiseNode:
    """A receipt the call asks for (``receiver_id`` set), or a join of others (``members``)."""

    receiver_id: str = ""
    actions: list[Action] = field(default_factory=list)
    after: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    yield_data_id: bytes | None = None

    @property
    def is_join(self) -> bool:
        return not self.receiver_id


@dataclass
class CallOutcome:
    ok: bool = False
    error: str | None = None
    return_data: bytes | None = None
    return_promise: int | None = None
    logs: list[str] = field(default_factory=list)
    instructions: int = 0
    gas_burnt: int = 0
    gas_attached: int = 0
    storage_writes: dict[bytes, bytes | None] = field(default_factory=dict)
    storage_usage: int = 0
    promises: list[PromiseNode] = field(default_factory=list)
    resumes: list[tuple[bytes, bytes]] = field(default_factory=list)
    balance: int = 0  # the account's balance after the deposits this call attached


class ContractVM:
    """Runs contract methods. One instance per chain; modules are compiled once per code."""

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        self.engine = wasmtime.Engine(config)
        self._modules: dict[bytes, wasmtime.Module] = {}

    def module_for(self, code: bytes) -> wasmtime.Module:
        key = hashlib.sha256(code).digest()
        if key not in self._modules:
            self._modules[key] = wasmtime.Module(self.engine, code)
        return self._modules[key]

    def call(self, code: bytes, method: str, ctx: CallContext, state: StateView) -> CallOutcome:
        return _Call(self, code, method, ctx, state).run()


class _Call:
    def __init__(
        self, vm: ContractVM, code: bytes, method: str, ctx: CallContext, state: StateView
    ) -> None:
        self.vm = vm
        self.code = code
        self.method = method
        self.ctx = ctx
        self.state = state
        self.registers: dict[int, bytes] = {}
        self.out = CallOutcome(balance=ctx.account_balance, storage_usage=ctx.storage_usage)
        self.host_gas = 0
        self.memory: wasmtime.Memory | None = None
        self.store = wasmtime.Store(vm.engine)
        self.fuel = max(ctx.prepaid_gas // gas.REGULAR_OP_COST, 1)

    # --- running ------------------------------------------------------------------------------
    def run(self) -> CallOutcome:
        self.store.set_fuel(self.fuel)
        try:
            module = self.vm.module_for(self.code)
            linker = wasmtime.Linker(self.vm.engine)
            self._define_imports(linker, module)
            instance = linker.instantiate(self.store, module)
            memory = instance.exports(self.store).get("memory")
            if not isinstance(memory, wasmtime.Memory):
                raise HostError("contract exports no memory")
            self.memory = memory
            entry = instance.exports(self.store).get(self.method)
            if not isinstance(entry, wasmtime.Func):
                raise HostError(f"MethodNotFound: the contract has no method `{self.method}`")
            entry(self.store)
            self._charge(0)
            self.out.ok = True
        except HostError as exc:
            self.out.error = str(exc)
        except wasmtime.Trap as exc:
            if exc.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
                self.out.error = (
                    f"GasExceeded: the call used all {self.ctx.prepaid_gas} prepaid gas"
                )
            else:
                self.out.error = f"WasmTrap: {_cause(exc)}"
        except wasmtime.WasmtimeError as exc:
            self.out.error = f"CompilationError: {_cause(exc)}"
        finally:
            used = self.fuel - self.store.get_fuel()
            self.out.instructions = used
            self.out.gas_burnt = used * gas.REGULAR_OP_COST + self.host_gas
            self._release()
        if not self.out.ok:
            self.out.storage_writes.clear()
            self.out.promises.clear()
            self.out.resumes.clear()
            self.out.return_data = None
            self.out.return_promise = None
        return self.out

    def _release(self) -> None:
        """Drops the store. wasmtime-py keeps every host function in a global table until its
        store is deleted, and ours hold this call (and so the store): without this, each call's
        instance and its memory would live for as long as the process."""
        self.memory = None
        self.registers.clear()
        del self.store

    def _charge(self, amount: int) -> None:
        self.host_gas += amount
        used = (self.fuel - self.store.get_fuel()) * gas.REGULAR_OP_COST
        if used + self.host_gas + self.out.gas_attached > self.ctx.prepaid_gas:
            raise HostError(f"GasExceeded: the call used all {self.ctx.prepaid_gas} prepaid gas")

    # --- memory and registers -------------------------------------------------------------------
    def _read(self, ptr: int, length: int) -> bytes:
        assert self.memory is not None
        self._charge(gas.READ_MEMORY_BASE + gas.READ_MEMORY_BYTE * length)
        try:
            return bytes(self.memory.read(self.store, ptr, ptr + length))
        except (IndexError, ValueError) as exc:
            raise HostError("MemoryAccessViolation") from exc

    def _write(self, ptr: int, data: bytes) -> None:
        assert self.memory is not None
        self._charge(gas.WRITE_MEMORY_BASE + gas.WRITE_MEMORY_BYTE * len(data))
        try:
            self.memory.write(self.store, data, ptr)
        except (IndexError, ValueError) as exc:
            raise HostError("MemoryAccessViolation") from exc

    def _set_register(self, register_id: int, data: bytes) -> None:
        self._charge(gas.WRITE_REGISTER_BASE + gas.WRITE_REGISTER_BYTE * len(data))
        self.registers[register_id] = data

    def _read_str(self, length: int, ptr: int) -> str:
        if length == U64_MAX:  # null-terminated
            assert self.memory is not None
            data = bytearray()
            while True:
                byte = self._read(ptr + len(data), 1)
                if byte == b"\0":
                    break
                data += byte
            raw = bytes(data)
        else:
            raw = self._read(ptr, length)
        self._charge(gas.UTF8_DECODING_BASE + gas.UTF8_DECODING_BYTE * len(raw))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HostError("BadUTF8: a string argument is not valid UTF-8") from exc

    def _read_u128(self, ptr: int) -> int:
        return int.from_bytes(self._read(ptr, 16), "little")

    def _no_view(self, name: str) -> None:
        if self.ctx.is_view:
            raise HostError(f"ProhibitedInView: {name} is not allowed in a view call")

    # --- imports ---------------------------------------------------------------------------------
    def _define_imports(self, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
        table = self._host_functions()
        for item in module.imports:
            if item.module != "env":
                raise HostError(f"LinkError: import {item.module}::{item.name} is not NEAR's")
            impl = table.get(item.name or "", None)
            func_type = item.type
            assert isinstance(func_type, wasmtime.FuncType)
            if impl is None:
                impl = self._unsupported(item.name or "")
            linker.define_func("env", item.name or "", func_type, _wrap(self, impl, func_type))

    def _unsupported(self, name: str) -> Callable[..., int | None]:
        def fail(*_: int) -> None:
            raise HostError(f"localnet does not support the host function `{name}`")

        return fail

    def _host_functions(self) -> dict[str, Callable[..., int | None]]:
        return {
            name[len("h_") :]: getattr(self, name) for name in dir(self) if name.startswith("h_")
        }

    # registers
    def h_read_register(self, register_id: int, ptr: int) -> None:
        data = self.registers.get(register_id)
        if data is None:
            raise HostError(f"InvalidRegisterId: register {register_id} is empty")
        self._charge(gas.READ_REGISTER_BASE + gas.READ_REGISTER_BYTE * len(data))
        self._write(ptr, data)

    def h_register_len(self, register_id: int) -> int:
        data = self.registers.get(register_id)
        return U64_MAX if data is None else len(data)

    def h_write_register(self, register_id: int, length: int, ptr: int) -> None:
        self._set_register(register_id, self._read(ptr, length))

    # context
    def h_current_account_id(self, register_id: int) -> None:
        self._set_register(register_id, self.ctx.current_account_id.encode())

    def h_signer_account_id(self, register_id: int) -> None:
        self._no_view("signer_account_id")
        self._set_register(register_id, self.ctx.signer_account_id.encode())

    def h_signer_account_pk(self, register_id: int) -> None:
        self._no_view("signer_account_pk")
        self._set_register(register_id, self.ctx.signer_public_key)

    def h_predecessor_account_id(self, register_id: int) -> None:
        self._no_view("predecessor_account_id")
        self._set_register(register_id, self.ctx.predecessor_account_id.encode())

    def h_input(self, register_id: int) -> None:
        self._set_register(register_id, self.ctx.input)

    def h_block_index(self) -> int:
        return self.ctx.block_height

    def h_block_timestamp(self) -> int:
        return self.ctx.block_timestamp

    def h_epoch_height(self) -> int:
        return self.ctx.block_height // 43_200

    def h_storage_usage(self) -> int:
        return self.out.storage_usage

    # economics
    def h_account_balance(self, ptr: int) -> None:
        self._write(ptr, self.out.balance.to_bytes(16, "little"))

    def h_account_locked_balance(self, ptr: int) -> None:
        self._write(ptr, self.ctx.account_locked_balance.to_bytes(16, "little"))

    def h_attached_deposit(self, ptr: int) -> None:
        self._no_view("attached_deposit")
        self._write(ptr, self.ctx.attached_deposit.to_bytes(16, "little"))

    def h_prepaid_gas(self) -> int:
        self._no_view("prepaid_gas")
        return self.ctx.prepaid_gas

    def h_used_gas(self) -> int:
        self._no_view("used_gas")
        used = (self.fuel - self.store.get_fuel()) * gas.REGULAR_OP_COST
        return used + self.host_gas + self.out.gas_attached

    def h_random_seed(self, register_id: int) -> None:
        self._set_register(register_id, self.ctx.random_seed)

    # math
    def h_sha256(self, length: int, ptr: int, register_id: int) -> None:
        data = self._read(ptr, length)
        self._charge(gas.SHA256_BASE + gas.SHA256_BYTE * length)
        self._set_register(register_id, hashlib.sha256(data).digest())

    def h_keccak256(self, length: int, ptr: int, register_id: int) -> None:
        data = self._read(ptr, length)
        self._charge(gas.KECCAK256_BASE + gas.KECCAK256_BYTE * length)
        self._set_register(register_id, keccak.new(digest_bits=256, data=data).digest())

    def h_keccak512(self, length: int, ptr: int, register_id: int) -> None:
        data = self._read(ptr, length)
        self._charge(gas.KECCAK256_BASE + gas.KECCAK256_BYTE * length)
        self._set_register(register_id, keccak.new(digest_bits=512, data=data).digest())

    def h_ripemd160(self, length: int, ptr: int, register_id: int) -> None:
        data = self._read(ptr, length)
        self._set_register(register_id, RIPEMD160.new(data).digest())

    def h_ed25519_verify(
        self, sig_len: int, sig_ptr: int, msg_len: int, msg_ptr: int, pk_len: int, pk_ptr: int
    ) -> int:
        signature, message = self._read(sig_ptr, sig_len), self._read(msg_ptr, msg_len)
        public_key = self._read(pk_ptr, pk_len)
        if len(signature) != 64 or len(public_key) != 32:
            raise HostError("Ed25519VerifyInvalidInput: bad signature or key length")
        try:
            nacl.signing.VerifyKey(public_key).verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return 0
        return 1

    def h_validator_stake(self, length: int, ptr: int, stake_ptr: int) -> None:
        self._write(stake_ptr, bytes(16))

    def h_validator_total_stake(self, stake_ptr: int) -> None:
        self._write(stake_ptr, bytes(16))

    # misc
    def h_value_return(self, length: int, ptr: int) -> None:
        self.out.return_data = self._read(ptr, length)

    def h_panic(self) -> None:
        raise ContractPanic("Smart contract panicked: explicit guest panic")

    def h_panic_utf8(self, length: int, ptr: int) -> None:
        raise ContractPanic(f"Smart contract panicked: {self._read_str(length, ptr)}")

    def h_log_utf8(self, length: int, ptr: int) -> None:
        self._log(self._read_str(length, ptr))

    def h_log_utf16(self, length: int, ptr: int) -> None:
        raw = self._read(ptr, length)
        self._log(raw.decode("utf-16-le", errors="replace"))

    def _log(self, message: str) -> None:
        if len(self.out.logs) >= MAX_LOGS:
            raise HostError(f"NumberOfLogsExceeded: at most {MAX_LOGS} logs per call")
        if len(message.encode()) > MAX_LOG_BYTES:
            raise HostError(f"TotalLogLengthExceeded: a log is limited to {MAX_LOG_BYTES} bytes")
        self._charge(gas.LOG_BASE + gas.LOG_BYTE * len(message))
        self.out.logs.append(message)

    # storage
    def _storage_get(self, key: bytes) -> bytes | None:
        if key in self.out.storage_writes:
            return self.out.storage_writes[key]
        return self.state.storage_get(self.ctx.current_account_id, key)

    def h_storage_write(
        self, key_len: int, key_ptr: int, value_len: int, value_ptr: int, register_id: int
    ) -> int:
        self._no_view("storage_write")
        key, value = self._read(key_ptr, key_len), self._read(value_ptr, value_len)
        old = self._storage_get(key)
        self._charge(
            gas.STORAGE_WRITE_BASE
            + gas.STORAGE_WRITE_KEY_BYTE * len(key)
            + gas.STORAGE_WRITE_VALUE_BYTE * len(value)
            + gas.STORAGE_WRITE_EVICTED_BYTE * len(old or b"")
        )
        self.out.storage_writes[key] = value
        if old is None:
            self.out.storage_usage += len(key) + len(value) + gas.DATA_RECORD_BYTES
            return 0
        self.out.storage_usage += len(value) - len(old)
        self._set_register(register_id, old)
        return 1

    def h_storage_read(self, key_len: int, key_ptr: int, register_id: int) -> int:
        key = self._read(key_ptr, key_len)
        value = self._storage_get(key)
        self._charge(
            gas.STORAGE_READ_BASE
            + gas.STORAGE_READ_KEY_BYTE * len(key)
            + gas.STORAGE_READ_VALUE_BYTE * len(value or b"")
        )
        if value is None:
            return 0
        self._set_register(register_id, value)
        return 1

    def h_storage_remove(self, key_len: int, key_ptr: int, register_id: int) -> int:
        self._no_view("storage_remove")
        key = self._read(key_ptr, key_len)
        old = self._storage_get(key)
        self._charge(
            gas.STORAGE_REMOVE_BASE
            + gas.STORAGE_REMOVE_KEY_BYTE * len(key)
            + gas.STORAGE_REMOVE_RET_VALUE_BYTE * len(old or b"")
        )
        if old is None:
            return 0
        self.out.storage_writes[key] = None
        self.out.storage_usage -= len(key) + len(old) + gas.DATA_RECORD_BYTES
        self._set_register(register_id, old)
        return 1

    def h_storage_has_key(self, key_len: int, key_ptr: int) -> int:
        key = self._read(key_ptr, key_len)
        self._charge(gas.STORAGE_HAS_KEY_BASE + gas.STORAGE_HAS_KEY_BYTE * len(key))
        return 0 if self._storage_get(key) is None else 1

    # promises
    def _new_promise(self, node: PromiseNode) -> int:
        self._no_view("promises")
        self._charge(gas.ACTION_RECEIPT_CREATION)
        self.out.promises.append(node)
        return len(self.out.promises) - 1

    def _receipt(self, index: int) -> PromiseNode:
        if index >= len(self.out.promises):
            raise HostError(f"InvalidPromiseIndex: {index}")
        node = self.out.promises[index]
        if node.is_join:
            raise HostError("CannotAppendActionToJointPromise")
        return node

    def _attach(self, index: int, action: Action, deposit: int = 0, attached_gas: int = 0) -> None:
        node = self._receipt(index)
        if node.yield_data_id is not None:
            raise HostError("actions cannot be added to a yielded promise")
        if deposit > self.out.balance:
            raise HostError(
                f"BalanceExceeded: needs {deposit} yoctoNEAR, the account has {self.out.balance}"
            )
        self.out.balance -= deposit
        self.out.gas_attached += attached_gas
        self._charge(0)
        node.actions.append(action)

    def h_promise_batch_create(self, id_len: int, id_ptr: int) -> int:
        return self._new_promise(PromiseNode(receiver_id=self._read_str(id_len, id_ptr)))

    def h_promise_batch_then(self, promise_index: int, id_len: int, id_ptr: int) -> int:
        self._check_index(promise_index)
        account = self._read_str(id_len, id_ptr)
        return self._new_promise(PromiseNode(receiver_id=account, after=[promise_index]))

    def h_promise_and(self, ids_ptr: int, count: int) -> int:
        raw = self._read(ids_ptr, 8 * count)
        members = list(struct.unpack(f"<{count}Q", raw))
        for member in members:
            self._check_index(member)
        self._charge(gas.PROMISE_AND_BASE + gas.PROMISE_AND_PER_PROMISE * count)
        self.out.promises.append(PromiseNode(members=members))
        return len(self.out.promises) - 1

    def _check_index(self, index: int) -> None:
        if index >= len(self.out.promises):
            raise HostError(f"InvalidPromiseIndex: {index}")

    def h_promise_create(
        self, id_len: int, id_ptr: int, fn_len: int, fn_ptr: int,
        args_len: int, args_ptr: int, amount_ptr: int, attached_gas: int,
    ) -> int:  # fmt: skip
        index = self.h_promise_batch_create(id_len, id_ptr)
        self.h_promise_batch_action_function_call(
            index, fn_len, fn_ptr, args_len, args_ptr, amount_ptr, attached_gas
        )
        return index

    def h_promise_then(
        self, promise_index: int, id_len: int, id_ptr: int, fn_len: int, fn_ptr: int,
        args_len: int, args_ptr: int, amount_ptr: int, attached_gas: int,
    ) -> int:  # fmt: skip
        index = self.h_promise_batch_then(promise_index, id_len, id_ptr)
        self.h_promise_batch_action_function_call(
            index, fn_len, fn_ptr, args_len, args_ptr, amount_ptr, attached_gas
        )
        return index

    def h_promise_batch_action_function_call(
        self, index: int, fn_len: int, fn_ptr: int, args_len: int, args_ptr: int,
        amount_ptr: int, attached_gas: int,
    ) -> None:  # fmt: skip
        self.h_promise_batch_action_function_call_weight(
            index, fn_len, fn_ptr, args_len, args_ptr, amount_ptr, attached_gas, 0
        )

    def h_promise_batch_action_function_call_weight(
        self, index: int, fn_len: int, fn_ptr: int, args_len: int, args_ptr: int,
        amount_ptr: int, attached_gas: int, gas_weight: int,
    ) -> None:  # fmt: skip
        method = self._read_str(fn_len, fn_ptr)
        args = self._read(args_ptr, args_len)
        deposit = self._read_u128(amount_ptr)
        self._charge(gas.FUNCTION_CALL_ACTION + gas.FUNCTION_CALL_BYTE * (len(method) + len(args)))
        call = FunctionCallAction(method, args, attached_gas, deposit, gas_weight)
        self._attach(index, call, deposit, attached_gas)

    def h_promise_batch_action_transfer(self, index: int, amount_ptr: int) -> None:
        amount = self._read_u128(amount_ptr)
        self._charge(gas.TRANSFER_ACTION)
        self._attach(index, TransferAction(amount), amount)

    def h_promise_batch_action_create_account(self, index: int) -> None:
        self._attach(index, CreateAccountAction())

    def h_promise_batch_action_deploy_contract(self, index: int, code_len: int, ptr: int) -> None:
        self._attach(index, DeployContractAction(self._read(ptr, code_len)))

    def h_promise_batch_action_add_key_with_full_access(
        self, index: int, pk_len: int, pk_ptr: int, nonce: int
    ) -> None:
        self._attach(index, AddKeyAction(self._read(pk_ptr, pk_len), nonce))

    def h_promise_batch_action_add_key_with_function_call(
        self, index: int, pk_len: int, pk_ptr: int, nonce: int, allowance_ptr: int,
        receiver_len: int, receiver_ptr: int, names_len: int, names_ptr: int,
    ) -> None:  # fmt: skip
        key = self._read(pk_ptr, pk_len)
        allowance = self._read_u128(allowance_ptr)
        receiver = self._read_str(receiver_len, receiver_ptr)
        names = [n for n in self._read_str(names_len, names_ptr).split(",") if n]
        self._attach(index, AddKeyAction(key, nonce, (allowance or None, receiver, names)))

    def h_promise_batch_action_delete_key(self, index: int, pk_len: int, pk_ptr: int) -> None:
        self._attach(index, DeleteKeyAction(self._read(pk_ptr, pk_len)))

    def h_promise_batch_action_delete_account(self, index: int, id_len: int, id_ptr: int) -> None:
        self._attach(index, DeleteAccountAction(self._read_str(id_len, id_ptr)))

    def h_promise_results_count(self) -> int:
        self._no_view("promise_results_count")
        return len(self.ctx.promise_results)

    def h_promise_result(self, result_idx: int, register_id: int) -> int:
        self._no_view("promise_result")
        if result_idx >= len(self.ctx.promise_results):
            raise HostError(f"InvalidPromiseResultIndex: {result_idx}")
        status, data = self.ctx.promise_results[result_idx]
        if status == RESULT_SUCCESS:
            self._set_register(register_id, data)
        return status

    def h_promise_return(self, promise_index: int) -> None:
        self._no_view("promise_return")
        self._charge(gas.PROMISE_RETURN)
        self._receipt(promise_index)  # refuses a missing or joint promise
        self.out.return_promise = promise_index

    def h_promise_yield_create(
        self, fn_len: int, fn_ptr: int, args_len: int, args_ptr: int,
        attached_gas: int, gas_weight: int, register_id: int,
    ) -> int:  # fmt: skip
        self._no_view("promise_yield_create")
        method = self._read_str(fn_len, fn_ptr)
        args = self._read(args_ptr, args_len)
        self._charge(gas.YIELD_CREATE_BASE + gas.YIELD_CREATE_BYTE * (len(method) + len(args)))
        data_id = os.urandom(32)
        node = PromiseNode(
            receiver_id=self.ctx.current_account_id,
            actions=[FunctionCallAction(method, args, attached_gas, 0, gas_weight)],
            yield_data_id=data_id,
        )
        self.out.gas_attached += attached_gas
        self.out.promises.append(node)
        self._set_register(register_id, data_id)
        return len(self.out.promises) - 1

    def h_promise_yield_resume(
        self, data_id_len: int, data_id_ptr: int, payload_len: int, payload_ptr: int
    ) -> int:
        self._no_view("promise_yield_resume")
        data_id = self._read(data_id_ptr, data_id_len)
        payload = self._read(payload_ptr, payload_len)
        if len(payload) > MAX_YIELD_PAYLOAD:
            raise HostError(
                f"YieldPayloadLength: {len(payload)} bytes; the limit is {MAX_YIELD_PAYLOAD}"
            )
        self._charge(gas.YIELD_RESUME_BASE + gas.YIELD_RESUME_BYTE * len(payload))
        if len(data_id) != 32:
            raise HostError("DataIdMalformed: a data id is 32 bytes")
        already = any(existing == data_id for existing, _ in self.out.resumes)
        if already or not self.state.is_pending_yield(self.ctx.current_account_id, data_id):
            return 0
        self.out.resumes.append((data_id, payload))
        return 1


def _wrap(
    call: _Call, impl: Callable[..., int | None], func_type: wasmtime.FuncType
) -> Callable[..., int | None]:
    returns = bool(func_type.results)

    def host(*args: int) -> int | None:
        call._charge(gas.BASE)
        # i64 parameters arrive signed; NEAR's are unsigned.
        result = impl(*[a & U64_MAX if isinstance(a, int) else a for a in args])
        if not returns:
            return None
        value = int(result or 0)
        return value - 2**64 if value >= 2**63 else value

    return host


def _cause(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Caused by:" in text:
        text = text.split("Caused by:", 1)[1]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:500]
