"""The executor's side of guests' host calls: one :class:`HostCalls` per run.

The sandbox process only asks (``services.executor._guest_abi``); everything it may reach is
here, in the executor, behind per-run caps counted by this trusted side (a guest, or a worker it
took over, cannot under-report). What a run used shows in its ``resources_used.capabilities``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from outlayer.config import GuestCapabilitySettings
from outlayer.errors import ErrorCode, OutlayerError
from services.executor._guest_abi import HostStatus
from services.executor.capabilities.chain import ChainReader
from services.executor.capabilities.errors import HostCallError
from services.executor.capabilities.fetch import Fetcher
from services.executor.capabilities.randomness import Randomness
from services.executor.capabilities.storage import GuestStorage

log = logging.getLogger("outlayer.executor.host")

_STATUS_OF_CODE = {
    ErrorCode.NOT_FOUND: HostStatus.NOT_FOUND,
    ErrorCode.INVALID_ARGUMENT: HostStatus.INVALID,
    ErrorCode.LIMIT_EXCEEDED: HostStatus.QUOTA,
    ErrorCode.PERMISSION_DENIED: HostStatus.REFUSED,
    ErrorCode.UNAVAILABLE: HostStatus.UNAVAILABLE,
    ErrorCode.CONFLICT: HostStatus.CONFLICT,
}


@dataclass
class GuestServices:
    """What one job's guest may reach; None: that capability is off for this run."""

    storage: GuestStorage | None = None
    randomness: Randomness | None = None
    chain: ChainReader | None = None
    fetch: Fetcher | None = None
    # Why a capability is off, when it is not the usual reason (_why_off).
    why_off: dict[str, str] = field(default_factory=dict)


Handler = Callable[[dict[str, Any], float], dict[str, Any]]


class HostCalls:
    def __init__(self, services: GuestServices, caps: GuestCapabilitySettings) -> None:
        self._services = services
        self._caps = caps
        self.usage: Counter[str] = Counter()
        self._handlers: dict[str, tuple[str, Handler]] = {
            "storage.get": ("storage", self._storage_get),
            "storage.set": ("storage", self._storage_set),
            "storage.delete": ("storage", self._storage_delete),
            "storage.swap": ("storage", self._storage_swap),
            "storage.increment": ("storage", self._storage_increment),
            "storage.list": ("storage", self._storage_list),
            "random": ("randomness", self._random),
            "near.view": ("chain", self._near_view),
            "near.view_account": ("chain", self._near_view_account),
            "near.block": ("chain", self._near_block),
            "near.rpc": ("chain", self._near_rpc),  # components' near:rpc/api reads
            "fetch": ("fetch", self._fetch),
        }

    def answer(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The answer to one of the guest's requests, within ``timeout`` seconds."""
        op = str(request.get("op"))
        found = self._handlers.get(op)
        if found is None:
            return _failure(HostStatus.NOT_ENABLED, f"no host call named {op!r}")
        capability, handler = found
        if getattr(self._services, capability) is None:
            why = self._services.why_off.get(capability) or _why_off(capability)
            return _failure(HostStatus.NOT_ENABLED, why)
        self.usage["host_calls"] += 1
        try:
            self._cap("host_calls", self._caps.max_host_calls, "host calls")
            if timeout <= 0:
                raise HostCallError(HostStatus.LIMIT, "the run's wall-clock limit is reached")
            return {"ok": True, **handler(request, timeout)}
        except HostCallError as exc:
            return _failure(exc.status, exc.message)
        except OutlayerError as exc:
            return _failure(_STATUS_OF_CODE.get(exc.code, HostStatus.FAILED), exc.message)
        except (KeyError, TypeError, AttributeError):
            # Only a worker that was taken over sends these: the sandbox builds well-formed ones.
            log.warning("malformed host call %s from a worker", op[:40])
            return _failure(HostStatus.INVALID, f"a malformed {op[:40]} request")
        except Exception:  # ours, not the guest's: logged for the operator, a plain answer
            log.exception("host call %s failed", op)
            return _failure(HostStatus.UNAVAILABLE, f"the platform failed serving {op}; retry")

    def _cap(self, counter: str, most: int, what: str, add: int = 0) -> None:
        self.usage[counter] += add
        if self.usage[counter] > most:
            raise HostCallError(HostStatus.LIMIT, f"a run may use at most {most} {what}")

    # --- storage -------------------------------------------------------------------------------
    @property
    def _storage(self) -> GuestStorage:
        assert self._services.storage is not None
        return self._services.storage

    def _storage_bytes(self, size: int) -> None:
        self._cap("storage_bytes", self._caps.storage_max_bytes_per_run, "bytes of storage", size)

    def _storage_get(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_reads"] += 1
        value = self._storage.get(request["key"], request["per_caller"], timeout)
        if value is None:
            raise HostCallError(HostStatus.NOT_FOUND, f"no key {request['key']!r}")
        self._storage_bytes(len(value))
        return {"data": value}

    def _storage_set(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_writes"] += 1
        self._storage_bytes(len(request["value"]))
        self._storage.set(request["key"], request["value"], request["per_caller"], timeout)
        return {"value": 0}

    def _storage_delete(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_writes"] += 1
        deleted = self._storage.delete(request["key"], request["per_caller"], timeout)
        return {"value": int(deleted)}

    def _storage_swap(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_writes"] += 1
        self._storage_bytes(len(request["value"]) + len(request["expected"] or b""))
        swapped = self._storage.swap(request["key"], request["expected"], request["value"],
                                     request["per_caller"], timeout)  # fmt: skip
        return {"value": int(swapped)}

    def _storage_increment(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_writes"] += 1
        total = self._storage.increment(request["key"], int(request["delta"]),
                                        request["per_caller"], timeout)  # fmt: skip
        return {"data": str(total).encode()}

    def _storage_list(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.usage["storage_reads"] += 1
        data = self._storage.list(request["prefix"], request["cursor"], request["per_caller"],
                                  timeout)  # fmt: skip
        self._storage_bytes(len(data))
        return {"data": data}

    # --- randomness ----------------------------------------------------------------------------
    def _random(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._services.randomness is not None
        self._cap("random_calls", self._caps.random_max_calls, "randomness calls", 1)
        return {"data": self._services.randomness.draw(request["seed"], timeout)}

    # --- chain reads ---------------------------------------------------------------------------
    def _chain(self, answer: bytes) -> dict[str, Any]:
        self._cap("chain_bytes", self._caps.chain_max_bytes, "bytes of chain reads", len(answer))
        return {"data": answer}

    def _chain_call(self) -> ChainReader:
        assert self._services.chain is not None
        self._cap("chain_calls", self._caps.chain_max_calls, "chain reads", 1)
        return self._services.chain

    def _near_view(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        chain = self._chain_call()
        return self._chain(chain.view(request["contract"], request["method"], request["args"],
                                      timeout))  # fmt: skip

    def _near_view_account(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._chain(self._chain_call().view_account(request["account"], timeout))

    def _near_block(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._chain(self._chain_call().final_block(timeout))

    def _near_rpc(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        args = request.get("args")
        if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
            raise HostCallError(HostStatus.INVALID, "near.rpc: args are an object of strings")
        chain = self._chain_call()
        return self._chain(chain.api_read(str(request.get("function")), args, timeout))

    # --- fetch ---------------------------------------------------------------------------------
    def _fetch(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self._services.fetch is not None
        self._cap("fetch_requests", self._caps.fetch_max_requests, "fetch requests", 1)
        left = self._caps.fetch_max_bytes - self.usage["fetch_bytes"]
        answer = self._services.fetch.fetch(request["request"], timeout, max_bytes=left)
        self._cap("fetch_bytes", self._caps.fetch_max_bytes, "bytes fetched", answer.bytes_used)
        return {"data": answer.data}


def _failure(status: HostStatus, message: str) -> dict[str, Any]:
    return {"ok": False, "status": int(status), "message": message}


def _why_off(capability: str) -> str:
    return {
        "storage": "storage is not available in this run",
        "randomness": "randomness is not available in this run (no keystore configured)",
        "chain": "NEAR reads are off: the platform has no RPC for them (executor.guest.chain_rpc)",
        "fetch": "outbound HTTPS is off for this module: declare the hosts it may reach in its "
        "`outlayer.fetch` custom section (docs/guest-abi.md)",
    }[capability]
