"""A leased job's capabilities: storage in the coordinator (sealed with the keystore's key),
randomness from the keystore, NEAR reads through the platform's RPC, the module's fetches."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from outlayer.attested import attested_keystore
from outlayer.config import Settings
from outlayer.errors import error_from_rpc
from outlayer.near.rpc import NearRpc
from outlayer.origin import job_key, store_of
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import keystore_pb2
from services.executor.capabilities.chain import ChainReader
from services.executor.capabilities.host_calls import GuestServices
from services.executor.capabilities.local import fetch_for
from services.executor.capabilities.randomness import KeystoreRandomness
from services.executor.capabilities.storage import CoordinatorStore, GuestStorage

_NO_KEYSTORE = "{} needs a keystore, and this executor has none (executor.keystore)"


class JobCapabilities:
    def __init__(self, settings: Settings, coordinator: grpc.Channel, token: str) -> None:
        self._settings = settings
        self._coordinator = coordinator
        self._token = token
        guest = settings.executor.guest
        self._rpc = (
            NearRpc(guest.chain_rpc, guest.chain_timeout_seconds) if guest.chain_rpc else None
        )

    def services(self, job_id: int, spec: pb.JobSpec, wasm: bytes) -> GuestServices:
        store, _caller = store_of(spec)
        fetch, why_fetch_off = fetch_for(wasm, self._settings)
        services = GuestServices(
            chain=ChainReader(self._rpc) if self._rpc is not None else None, fetch=fetch
        )
        if why_fetch_off:
            services.why_off["fetch"] = why_fetch_off
        keystore = self._settings.executor.keystore
        if not keystore:
            services.why_off["storage"] = _NO_KEYSTORE.format("storage")
            services.why_off["randomness"] = _NO_KEYSTORE.format("randomness")
            return services
        settings = self._settings
        services.storage = GuestStorage(
            CoordinatorStore(self._coordinator, self._token, job_id),
            self._storage_key(store),
            store,
        )
        services.randomness = KeystoreRandomness(
            keystore, settings.tls, settings.attestation, job_key(spec.origin)
        )
        return services

    def _storage_key(self, store: str) -> Callable[[float], bytes]:
        settings = self._settings

        def key(timeout: float) -> bytes:
            target = settings.executor.keystore
            with attested_keystore(target, settings.tls, "executor", settings.attestation) as ks:
                try:
                    reply = ks.stub.GetStorageKey(
                        keystore_pb2.GetStorageKeyRequest(store=store), timeout=timeout
                    )
                except grpc.RpcError as exc:
                    raise error_from_rpc(exc, "the keystore") from None
            return bytes(reply.key)

        return key
