"""The HTTPS edge, assembled: REST/JSON over TLS, transcoded to the coordinator's gRPC API."""

from __future__ import annotations

import sys
import threading

import grpc.aio

from outlayer.attested import AttestedChannel
from outlayer.config import Settings
from outlayer.errors import invalid_argument
from outlayer.grpcclient import open_aio_channel
from outlayer.tls import identity_for
from services.edge.server import Edge, make_server


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
    """Serves until ``stop`` is set."""
    listen = listen or settings.edge.listen
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

    def shut_down_on_stop() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=shut_down_on_stop, name="edge-stop", daemon=True).start()
    server.serve_forever()
