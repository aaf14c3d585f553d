"""The one server interceptor of the mesh: who may call each method, and how refusals travel.

Every gRPC server built by :func:`outlayer.grpcserver.create_server` runs it first:

* **Permissions.** A service declares one table, method name → the mesh identities (the service
  names in their certificates, see :mod:`outlayer.tls`) allowed to call it. With mTLS, a caller
  whose identity is not in the method's row is refused with ``PERMISSION_DENIED`` before the
  method runs; a method missing from its service's table is refused to everyone (a new method
  must be given its row). Without mTLS (plaintext, which :func:`create_server` allows on
  loopback only) every local caller is let in, as everywhere in development.
* **Errors.** An :class:`~outlayer.errors.OutlayerError` raised by a method becomes its gRPC
  status, with details ``"code: message"`` (what :func:`outlayer.errors.error_from_rpc` and the
  edge read back) and a typed ``google.rpc.Status`` carrying a ``google.rpc.ErrorInfo`` (reason:
  the stable code). Anything else is logged and answered ``INTERNAL`` without its text.
* **Slow methods** (those that wait for a result) run on their own thread pool, so that however
  many wait, the fixed pool keeps serving everything else (executors' leases and completions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.tls import peer_service, uses_mtls

log = logging.getLogger("outlayer.grpc")
ERROR_DOMAIN = "outlayer"
# An error's message travels twice in the call's trailing metadata (grpc-message and the typed
# status), which gRPC caps at 8 KiB in all: a message quoting a long input is cut to this.
MAX_ERROR_MESSAGE = 1000
Permissions = Mapping[str, frozenset[str]]  # method name → identities allowed


def abort(context: grpc.ServicerContext, error: OutlayerError) -> None:
    """Ends the call with ``error``'s status and typed details (raises, as ``context.abort``)."""
    info = error_details_pb2.ErrorInfo(reason=error.code.value, domain=ERROR_DOMAIN)
    text = str(error)
    if len(text) > MAX_ERROR_MESSAGE:
        text = f"{text[:MAX_ERROR_MESSAGE]}... ({len(text) - MAX_ERROR_MESSAGE} more characters)"
    status = status_pb2.Status(code=error.grpc_status.value[0], message=text)
    status.details.add().Pack(info)
    context.abort_with_status(rpc_status.to_status(status))


def check_peer(context: grpc.ServicerContext, method: str, allowed: frozenset[str]) -> None:
    if not uses_mtls(context):
        return
    peer = peer_service(context)
    if peer not in allowed:
        who = f"the {peer} identity" if peer else "a certificate without a mesh identity"
        may = ", ".join(sorted(allowed)) or "no identity (not in the permission table)"
        raise OutlayerError(
            ErrorCode.PERMISSION_DENIED, f"{who} may not call {method}; allowed: {may}"
        )


class MeshInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(
        self,
        permissions: Mapping[str, Permissions],
        slow_methods: frozenset[str] = frozenset(),
        slow_pool: futures.ThreadPoolExecutor | None = None,
    ) -> None:
        """``permissions``: service full name → its table (a service without one checks its
        callers itself); ``slow_methods``: full method paths (/pkg.Service/Method) to run on
        ``slow_pool``."""
        self._permissions = dict(permissions)
        self._slow = slow_methods
        self._slow_pool = slow_pool

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        path: str = details.method
        service, _, method = path.lstrip("/").rpartition("/")
        table = self._permissions.get(service)
        allowed = None if table is None else table.get(method, frozenset())
        pool = self._slow_pool if path in self._slow else None
        return _wrap(handler, path, allowed, pool)


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any],
    path: str,
    allowed: frozenset[str] | None,
    pool: futures.ThreadPoolExecutor | None,
) -> grpc.RpcMethodHandler[Any, Any]:
    def enter(context: grpc.ServicerContext) -> None:
        if allowed is not None:
            check_peer(context, path, allowed)

    def unary(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                enter(context)
                return behavior(request, context)
            except Exception as exc:
                _fail(context, path, exc)
                raise

        if pool is not None:
            call.experimental_thread_pool = pool  # type: ignore[attr-defined]  # grpc's hook
        return call

    def streaming(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                enter(context)
                yield from behavior(request, context)
            except Exception as exc:
                _fail(context, path, exc)
                raise

        if pool is not None:
            call.experimental_thread_pool = pool  # type: ignore[attr-defined]
        return call

    kinds = {
        "unary_unary": (handler.unary_unary, unary, grpc.unary_unary_rpc_method_handler),
        "unary_stream": (handler.unary_stream, streaming, grpc.unary_stream_rpc_method_handler),
        "stream_unary": (handler.stream_unary, unary, grpc.stream_unary_rpc_method_handler),
        "stream_stream": (handler.stream_stream, streaming,
                          grpc.stream_stream_rpc_method_handler),
    }  # fmt: skip
    for behavior, wrap, make in kinds.values():
        if behavior is not None:
            made: grpc.RpcMethodHandler[Any, Any] = make(
                wrap(behavior),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            return made
    return handler


def _fail(context: grpc.ServicerContext, path: str, exc: Exception) -> None:
    """Turns ``exc`` into the call's status; returns when the call was already aborted."""
    if isinstance(exc, OutlayerError):
        abort(context, exc)
    if context.code() is not None:  # type: ignore[attr-defined]  # abort() raised: status set
        return
    log.exception("%s failed", path)
    abort(context, OutlayerError(ErrorCode.INTERNAL, f"{path} failed; the service logged why"))
