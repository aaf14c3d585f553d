"""``outlayer edge serve``: the HTTPS front door (REST/JSON → gRPC)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from outlayer.cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("edge", help="the HTTPS front door")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve REST/JSON over HTTPS, transcoded to gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: edge.listen")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    import grpc.aio

    from outlayer.attested import AttestedChannel
    from outlayer.errors import invalid_argument
    from outlayer.grpcclient import open_aio_channel
    from outlayer.tls import identity_for
    from services.edge.server import Edge, make_server

    settings = load_settings()
    configure("edge", settings.telemetry)
    listen = args.listen or settings.edge.listen
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise invalid_argument(f"--listen {listen!r} is not HOST:PORT")
    identity = identity_for(settings.tls, "edge")
    tls = (str(identity.cert_file), str(identity.key_file)) if identity else None
    if tls is None and host not in ("127.0.0.1", "localhost"):
        raise invalid_argument("refusing to serve plain HTTP off loopback: enable tls")

    def coordinator() -> grpc.aio.Channel:  # opened in the edge's event loop
        return open_aio_channel(settings.edge.coordinator, settings.tls, "edge", "coordinator")

    keystore = None
    if settings.edge.keystore:
        keystore = AttestedChannel(settings.edge.keystore, settings.tls, "edge",
                                   settings.attestation)  # fmt: skip
    server = make_server(Edge(coordinator, keystore, settings.edge), host, int(port), tls)
    scheme = "https" if tls else "http"
    print(f"outlayer edge: {scheme}://{host}:{server.server_address[1]} "
          f"(OpenAPI at /openapi.json)", file=sys.stderr, flush=True)  # fmt: skip

    stop_on_signals(server.shutdown)
    server.serve_forever()
    return 0
