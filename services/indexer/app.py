"""The indexer, assembled: follow the contract's requests into jobs, settle results on chain,
and answer health checks."""

from __future__ import annotations

import sys
import threading

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcclient import open_channel
from outlayer.grpcserver import create_server
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import identity_for
from outlayer.v1 import coordinator_pb2_grpc
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer


def serve(settings: Settings, stop: threading.Event) -> None:
    """Runs until ``stop`` is set."""
    config = settings.indexer
    if config.operator_key_file is None:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            "indexer.operator_key_file must name the NEAR key (JSON, as near-cli writes) of an "
            "account registered as a worker on the contract",
        )
    channel = open_channel(config.coordinator, settings.tls, "indexer", "coordinator")
    rpc = NearRpc(config.rpc_url)
    indexer = Indexer(
        RequestFeed(rpc, config.contract_id),
        coordinator_pb2_grpc.CoordinatorServiceStub(channel),
        rpc=rpc,
        operator=Signer.load(config.operator_key_file),
        chain=Chain(config.contract_id, config.network_id),
        cursor=Cursor(config.state_dir / f"{config.contract_id}.cursor.json"),
        start_height=config.start_height,
        block_seconds=config.block_seconds,
    )
    identity = identity_for(settings.tls, "indexer")
    health, port = create_server(
        config.listen, [], 2, identity.server_credentials() if identity else None
    )
    health.start()
    print(f"outlayer indexer: following {config.contract_id} on {config.rpc_url}; health on "
          f"port {port}", file=sys.stderr, flush=True)  # fmt: skip
    indexer.run_forever(stop, config.poll_seconds)
    health.stop(grace=2).wait()
