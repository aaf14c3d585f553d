"""Resolving a job's code source (a repository at a commit) to a module in the WASM store.

Until the compiler service lands this is a static map, ``{"REPO@COMMIT": "<sha256>"}`` in
``coordinator.sources_file``; a source it does not know ends the job with a
``compilation_error`` that says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError
from outlayer.result import ExecutionResult


class SourceMap:
    def __init__(self, path: Path | None) -> None:
        self._path = path

    def resolve(self, repo: str, commit: str) -> str | None:
        if self._path is None or not self._path.is_file():
            return None
        try:
            table = json.loads(self._path.read_text())
        except (OSError, ValueError) as exc:
            raise OutlayerError(
                ErrorCode.CONFIGURATION, f"coordinator.sources_file {self._path}: {exc}"
            ) from None
        value = table.get(f"{repo.removesuffix('.git')}@{commit.lower()}")
        return value if isinstance(value, str) else None

    def module_for(self, repo: str, commit: str) -> tuple[str | None, dict[str, Any] | None]:
        """(the module's SHA-256, None), or (None, the result that ends the job: not built)."""
        sha = self.resolve(repo, commit)
        if sha is not None:
            return sha, None
        return None, ExecutionResult.failure(
            ExecutionErrorType.COMPILATION_ERROR,
            f"{repo} at {commit} is not built on this platform yet (no compiler service; see "
            "coordinator.sources_file)",
        ).to_json()

    @staticmethod
    def add(path: Path, repo: str, commit: str, sha256: str) -> None:
        table = json.loads(path.read_text()) if path.is_file() else {}
        table[f"{repo}@{commit.lower()}"] = sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=2))
