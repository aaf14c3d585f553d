#!/opt/outlayer/.venv/bin/python
"""Probes one OutLayer service's gRPC health service (grpc.health.v1) over the mesh's mTLS, as
the service itself would call a peer: its own certificate, its CA, the peer's name checked.

    outlayer-healthcheck --service coordinator --port 50060   # exit 0: SERVING

Kubelet's gRPC probe and Compose's healthcheck speak no TLS, so the images carry this and the
manifests run it as an exec probe. The TLS settings are the service's (OUTLAYER_TLS__*, the
config file): the same environment the service runs with. ``--service keystore`` pins the
certificate the keystore presents (self-signed, made at each start, trusted through its quote,
not the mesh CA), which is enough to ask whether it serves. ``--http`` asks the HTTPS edge's
``GET /healthz`` instead (its certificate checked against the CA). Exit codes: 0 SERVING, 1 anything
else (not serving, unreachable, refused), 2 bad usage.
"""

from __future__ import annotations

import argparse
import ssl
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from outlayer.config import load_settings
from outlayer.tls import DOMAIN, identity_for


def channel(service: str, host: str, port: int) -> grpc.Channel:
    settings = load_settings()
    identity = identity_for(settings.tls, service)
    target = f"{host}:{port}"
    if identity is None:  # mTLS off: plaintext (loopback only)
        return grpc.insecure_channel(target)
    key = identity.key_file.read_bytes()
    cert = identity.cert_file.read_bytes()
    if service == "keystore":
        presented = ssl.get_server_certificate((host, port), timeout=5).encode()
        credentials = grpc.ssl_channel_credentials(presented, key, cert)
        return grpc.secure_channel(
            target, credentials, [("grpc.ssl_target_name_override", f"keystore.{DOMAIN}")]
        )
    credentials = grpc.ssl_channel_credentials(identity.ca_file.read_bytes(), key, cert)
    return grpc.secure_channel(
        target, credentials, [("grpc.ssl_target_name_override", f"{service}.{DOMAIN}")]
    )


def http_health(host: str, port: int, timeout_s: float) -> int:
    import http.client

    settings = load_settings()
    identity = identity_for(settings.tls, "edge")
    if identity is None:
        connection: http.client.HTTPConnection = http.client.HTTPConnection(
            host, port, timeout=timeout_s
        )
    else:
        context = ssl.create_default_context(cafile=str(identity.ca_file))
        context.check_hostname = False  # the probe dials an address; the CA is still checked
        connection = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        print(f"outlayer-healthcheck: edge at {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(f"edge: HTTP {status}")
    return 0 if status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="outlayer-healthcheck", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--service", required=True, help="the service probed (its identity too)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--http", action="store_true", help="the edge: GET /healthz over HTTPS")
    args = parser.parse_args(argv)
    if args.http:
        return http_health(args.host, args.port, args.timeout)
    try:
        with channel(args.service, args.host, args.port) as open_channel:
            stub = health_pb2_grpc.HealthStub(open_channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=args.timeout)
    except (grpc.RpcError, OSError, ssl.SSLError) as exc:
        detail = exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
        print(f"outlayer-healthcheck: {args.service} at {args.host}:{args.port}: {detail}",
              file=sys.stderr)  # fmt: skip
        return 1
    except Exception as exc:  # a bad configuration: say so, still "not healthy"
        print(f"outlayer-healthcheck: {exc}", file=sys.stderr)
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.service}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
