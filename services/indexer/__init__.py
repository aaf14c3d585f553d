"""The indexer: follows NEAR blocks, turns OutLayer's execution_requested events into jobs, and
settles finished jobs on chain (resolve_execution, signed with the operator's key)."""

from services.indexer.indexer import Indexer

__all__ = ["Indexer"]
