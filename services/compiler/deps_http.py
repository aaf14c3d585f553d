"""The fetch phase's downloads: one HTTP client, capped in size and time, checked by hash.

The fetch phase runs on the compiler's host before the (offline) build and talks only to the
configured registries. Every archive is verified against the checksum its lockfile or index
names, kept in a content-addressed cache (so a rebuild downloads nothing), and counted against
per-package and per-build caps.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from outlayer.config import RegistrySettings
from outlayer.errors import ExecutionErrorType as Category
from services.compiler.failures import BuildFailure

Progress = Callable[[str], None]


@dataclass
class FetchReport:
    """What the fetch phase did, for the build's metadata and ``outlayer compile``."""

    ecosystem: str = ""
    packages: int = 0
    downloaded: int = 0  # of those, not already in the package cache
    bytes: int = 0
    seconds: float = 0.0
    registry: str = ""
    lockfile_reresolved: bool = False
    notes: list[str] = field(default_factory=list)


def too_large(what: str, limit_mb: int, setting: str) -> BuildFailure:
    return BuildFailure(
        Category.DEPENDENCY_TOO_LARGE,
        f"{what} is larger than this platform's {limit_mb} MiB limit ({setting}); depend on "
        "fewer or smaller packages",
    )


class Downloader:
    """HTTP GETs for one build's fetch phase, within its caps and its deadline."""

    def __init__(self, settings: RegistrySettings, cache_dir: Path, progress: Progress) -> None:
        self._settings = settings
        self._cache_dir = cache_dir
        self._progress = progress
        self._deadline = time.monotonic() + settings.fetch_timeout_seconds
        # The host's trust store and proxy settings: a compiler host's operators decide how it
        # reaches its registries.
        self._client = httpx.Client(
            follow_redirects=True, timeout=30.0, trust_env=True, verify=ssl.create_default_context()
        )
        self.report = FetchReport()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BuildFailure(
                Category.NETWORK_ERROR,
                f"fetching dependencies took longer than {self._settings.fetch_timeout_seconds:.0f}"
                " s (compiler.registries.fetch_timeout_seconds); the registry may be slow: try "
                "again later",
                transient=True,
            )
        return left

    def get(self, url: str, limit_bytes: int, what: str) -> bytes | None:
        """The body, or None for 404/410 (the registry has no such thing)."""
        try:
            timeout = httpx.Timeout(min(30.0, self._remaining()))
            with self._client.stream("GET", url, timeout=timeout) as response:
                if response.status_code in (404, 410):
                    return None
                if response.status_code != 200:
                    raise BuildFailure(
                        Category.NETWORK_ERROR,
                        f"the registry answered HTTP {response.status_code} for {what}; try "
                        "again later",
                        transient=True,
                        hidden_log=url,
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > limit_bytes:
                        return bytes(body)  # the caller sees it is over and says why
                    self._remaining()
                return bytes(body)
        except httpx.HTTPError as exc:
            raise BuildFailure(
                Category.NETWORK_ERROR,
                f"could not reach the package registry for {what} ({type(exc).__name__}); check "
                "compiler.registries, or try again in a minute",
                transient=True,
                hidden_log=f"{url}: {exc!r}",
            ) from None

    def archive(self, url: str, digest: str, algorithm: str, what: str) -> bytes:
        """A package archive checked against ``digest`` (hex for sha256, base64 for sha512
        integrity strings), from the package cache when it is there."""
        cached = self._cache_dir / f"{algorithm}-{_safe(digest)}"
        if cached.is_file():
            data = cached.read_bytes()
            if _digest(data, algorithm) == digest:
                self._count(len(data), downloaded=False)
                return data
        per_package = self._settings.max_package_mb * 2**20
        fetched = self.get(url, per_package, what)
        if fetched is None:
            raise BuildFailure(
                Category.DEPENDENCY_NOT_FOUND,
                f"the registry has no archive for {what}; check the version, or update the "
                "lockfile",
                hidden_log=url,
            )
        data = fetched
        if len(data) > per_package:
            raise too_large(what, self._settings.max_package_mb,
                            "compiler.registries.max_package_mb")  # fmt: skip
        if _digest(data, algorithm) != digest:
            raise BuildFailure(
                Category.DEPENDENCY_NOT_FOUND,
                f"the archive of {what} does not match its checksum: the registry served "
                "something else than the lockfile or index names; nothing was built",
                hidden_log=url,
            )
        self._count(len(data), downloaded=True)
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}")
        partial.write_bytes(data)
        os.replace(partial, cached)
        return data

    def _count(self, size: int, *, downloaded: bool) -> None:
        report = self.report
        report.packages += 1
        report.downloaded += int(downloaded)
        report.bytes += size
        if report.packages > self._settings.max_packages:
            raise BuildFailure(
                Category.DEPENDENCY_TOO_LARGE,
                f"the project needs more than {self._settings.max_packages} packages "
                "(compiler.registries.max_packages)",
            )
        if report.bytes > self._settings.max_fetch_mb * 2**20:
            raise too_large("the project's dependencies together", self._settings.max_fetch_mb,
                            "compiler.registries.max_fetch_mb")  # fmt: skip
        self._progress(f"fetched {report.packages} packages ({report.bytes / 2**20:.1f} MiB)")


def _digest(data: bytes, algorithm: str) -> str:
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def _safe(digest: str) -> str:
    return digest.replace("/", "_").replace("+", "-").rstrip("=")
