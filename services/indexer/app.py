"""The indexer, assembled: follow the contract's requests into jobs, settle results on chain,
and answer health checks.

With a PostgreSQL ``database_url`` it runs as leader or standby (services/indexer/leader.py):
only the holder of the lease follows blocks and settles, from the cursor shared in that
database; a standby tries to take the lease every ``indexer.leader_retry_seconds``. With
SQLite (development, one indexer) it always leads and keeps its cursor in a file.
"""

from __future__ import annotations

import logging
import sys
import threading

from outlayer.config import IndexerSettings, Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcclient import open_channel
from outlayer.grpcserver import create_server
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import identity_for
from outlayer.v1 import coordinator_pb2_grpc
from services.indexer.cursor import Cursor, CursorStore, PgCursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from services.indexer.leader import Leader, is_postgres

log = logging.getLogger("outlayer.indexer")


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
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
    leader: Leader | None = None
    cursor: CursorStore
    if is_postgres(settings.database_url):
        leader = Leader(
            settings.database_url,
            f"{config.network_id}:{config.contract_id}",
            check_seconds=config.leader_check_seconds,
        )
        cursor = PgCursor(leader)
    else:
        cursor = Cursor(config.state_dir / f"{config.contract_id}.cursor.json")
    indexer = Indexer(
        RequestFeed(rpc, config.contract_id),
        coordinator_pb2_grpc.CoordinatorServiceStub(channel),
        rpc=rpc,
        operator=Signer.load(config.operator_key_file),
        chain=Chain(config.contract_id, config.network_id),
        cursor=cursor,
        start_height=config.start_height,
        block_seconds=config.block_seconds,
        leading=(lambda: leader.leading) if leader is not None else (lambda: True),
        settle_https_seconds=config.settle_https_seconds,
        settle_https_batch=config.settle_https_batch,
    )
    identity = identity_for(settings.tls, "indexer")
    health, port = create_server(
        listen or config.listen, [], 2, identity.server_credentials() if identity else None
    )
    health.start()
    print(f"outlayer indexer: following {config.contract_id} on {config.rpc_url}; health on "
          f"port {port}", file=sys.stderr, flush=True)  # fmt: skip
    try:
        if leader is None:
            indexer.run_forever(stop, config.poll_seconds)
        else:
            lead_or_stand_by(indexer, leader, config, stop)
    finally:
        if leader is not None:
            leader.close()
        health.stop(grace=2).wait()


def lead_or_stand_by(
    indexer: Indexer, leader: Leader, config: IndexerSettings, stop: threading.Event
) -> None:
    """Stands by until the lease is free, then follows and settles while it holds it; back to
    standing by when it is lost (the indexer stops between two blocks or resolves)."""
    standing_by_said = False
    while not stop.is_set():
        if not leader.try_acquire():
            if not standing_by_said:
                print(f"outlayer indexer: standby for {leader.name} (the lease is held "
                      "elsewhere or the database is unreachable)", file=sys.stderr,
                      flush=True)  # fmt: skip
                standing_by_said = True
            stop.wait(config.leader_retry_seconds)
            continue
        standing_by_said = False
        print(f"outlayer indexer: leading {leader.name}", file=sys.stderr, flush=True)
        stopped = threading.Event()
        # Stop the run loop when either the service stops or the lease is lost.
        watcher = threading.Thread(target=_until_either, args=(stop, leader, stopped), daemon=True)
        watcher.start()
        indexer.run_forever(stopped, config.poll_seconds)
        watcher.join(timeout=5)
        if not stop.is_set():
            print(f"outlayer indexer: lost the lease for {leader.name}; standing by",
                  file=sys.stderr, flush=True)  # fmt: skip


def _until_either(stop: threading.Event, leader: Leader, stopped: threading.Event) -> None:
    while not stop.is_set() and leader.leading:
        leader.wait_lost(0.2)
    stopped.set()
