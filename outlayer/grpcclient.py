"""Channels from one service to another: mTLS with the caller's identity, or plaintext on
loopback when mTLS is disabled."""

from __future__ import annotations

import grpc

from outlayer.config import TlsSettings
from outlayer.grpcserver import GRPC_OPTIONS
from outlayer.telemetry import instrument
from outlayer.tls import DOMAIN, identity_for


def open_channel(target: str, tls: TlsSettings, me: str, peer: str) -> grpc.Channel:
    """A channel from service ``me`` to service ``peer`` at ``target`` (HOST:PORT)."""
    identity = identity_for(tls, me)
    if identity is None:
        return instrument(grpc.insecure_channel(target, options=GRPC_OPTIONS))
    options = [*GRPC_OPTIONS, ("grpc.ssl_target_name_override", f"{peer}.{DOMAIN}")]
    return instrument(grpc.secure_channel(target, identity.channel_credentials(), options=options))


def open_aio_channel(target: str, tls: TlsSettings, me: str, peer: str) -> grpc.aio.Channel:
    """The same channel for asyncio code (the edge): create it inside the event loop that
    uses it."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    interceptors = aio_client_interceptors()  # type: ignore[no-untyped-call]
    identity = identity_for(tls, me)
    if identity is None:
        return grpc.aio.insecure_channel(target, GRPC_OPTIONS, interceptors=interceptors)
    options = [*GRPC_OPTIONS, ("grpc.ssl_target_name_override", f"{peer}.{DOMAIN}")]
    return grpc.aio.secure_channel(
        target, identity.channel_credentials(), options, interceptors=interceptors
    )
