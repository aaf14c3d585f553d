"""A job's secrets, fetched from the keystore over the attested channel, once per job."""

from __future__ import annotations

import grpc

from outlayer.attested import attested_keystore
from outlayer.config import AttestationSettings, TlsSettings
from outlayer.errors import error_from_rpc
from outlayer.platform_env import RESERVED
from outlayer.v1 import keystore_pb2


class KeystoreSecrets:
    def __init__(self, target: str, tls: TlsSettings, policy: AttestationSettings) -> None:
        self._target = target
        self._tls = tls
        self._policy = policy

    def fetch(self, grant: keystore_pb2.SecretsGrant) -> dict[str, str]:
        """The job's variables; raises OutlayerError with the keystore's code and reason."""
        with attested_keystore(self._target, self._tls, "executor", self._policy) as keystore:
            try:
                reply = keystore.stub.GetJobSecrets(
                    keystore_pb2.GetJobSecretsRequest(grant=grant), timeout=30
                )
            except grpc.RpcError as exc:
                raise error_from_rpc(exc, "the keystore") from None
        # The keystore refuses reserved names already; a platform variable is never replaced.
        return {name: value for name, value in reply.env.items() if name not in RESERVED}
