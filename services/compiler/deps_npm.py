"""The fetch phase for AssemblyScript: the packages ``package-lock.json`` names, from npm.

As ``npm ci --ignore-scripts`` would, but from the configured registry only: each package's
tarball is derived from the registry and the package's name and version (a lockfile's
``resolved`` URLs are not followed, so a lockfile cannot point the fetch anywhere else),
checked against the lockfile's ``integrity`` hash and unpacked into ``node_modules``. No
package script runs, here or in the build.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from outlayer.config import CompilerSettings
from outlayer.errors import ExecutionErrorType as Category
from services.compiler.deps_http import Downloader, FetchReport, Progress, too_large
from services.compiler.failures import BuildFailure

_HOST = {"os": "linux", "cpu": "x64"}


def _missing(message: str) -> BuildFailure:
    return BuildFailure(Category.DEPENDENCY_NOT_FOUND, message)


@functools.cache
def npm_default_registry() -> str:
    """The registry npm is configured with on this host (npm's own default otherwise)."""
    try:
        out = subprocess.run(["npm", "config", "get", "registry"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out


def registry_url(settings: CompilerSettings) -> str:
    url = settings.registries.npm or npm_default_registry()
    if not url.startswith(("http://", "https://")):
        raise BuildFailure(
            Category.NETWORK_ERROR,
            "no npm registry is configured: set compiler.registries.npm",
            transient=True,
        )
    return url.rstrip("/") + "/"


def _platform_ok(entry: dict[str, Any]) -> bool:
    """An optional package for another OS or CPU is skipped, as npm skips it."""
    for key, ours in _HOST.items():
        wanted = entry.get(key)
        if isinstance(wanted, list) and wanted:
            allowed = [w for w in wanted if not str(w).startswith("!")]
            if ours in [str(w).lstrip("!") for w in wanted if str(w).startswith("!")]:
                return False
            if allowed and ours not in allowed:
                return False
    return True


def fetch_npm(project: Path, settings: CompilerSettings, *, progress: Progress) -> FetchReport:
    began = time.monotonic()
    lock_path = project / "package-lock.json"
    if not lock_path.is_file():
        raise _missing(
            "package-lock.json is missing: OutLayer installs exactly what the lockfile names "
            "(as npm ci does); run `npm install` and commit package-lock.json"
        )
    try:
        lock = json.loads(lock_path.read_text())
        packages = lock["packages"]
        assert isinstance(packages, dict)
    except (ValueError, KeyError, AssertionError, UnicodeDecodeError):
        raise _missing(
            'package-lock.json has no "packages" table (lockfileVersion 2 or 3 is needed): run '
            "`npm install` with npm 7 or later and commit the lockfile"
        ) from None
    registry = registry_url(settings)
    wanted: list[tuple[str, str, str, str]] = []  # (folder, name, version, integrity)
    for key, entry in packages.items():
        if not key or not isinstance(entry, dict):
            continue  # the project itself
        folder = Path(key)
        if folder.is_absolute() or ".." in folder.parts or folder.parts[0] != "node_modules":
            raise _missing(f"package-lock.json places a package outside node_modules ({key})")
        if entry.get("link") or entry.get("inBundle"):
            continue  # workspace links and bundled packages come with their parents
        if entry.get("optional") and not _platform_ok(entry):
            continue
        name = str(entry.get("name") or key.rsplit("node_modules/", 1)[-1])
        version, integrity = str(entry.get("version", "")), str(entry.get("integrity", ""))
        if not version or not integrity.startswith(("sha512-", "sha384-", "sha256-", "sha1-")):
            raise _missing(
                f"package-lock.json gives {name} no version or integrity hash; OutLayer fetches "
                "registry packages by checked hash only: run `npm install` again"
            )
        wanted.append((key, name, version, integrity))
    with Downloader(settings.registries, settings.package_cache_dir, progress) as http:
        http.report.ecosystem, http.report.registry = "npm", registry
        progress(f"fetching {len(wanted)} npm packages from {registry}")
        for key, name, version, integrity in wanted:
            algorithm, _, digest = integrity.split(" ")[0].partition("-")
            base = name.rsplit("/", 1)[-1]
            url = f"{registry}{quote(name, safe='@/')}/-/{quote(base)}-{quote(version)}.tgz"
            data = http.archive(url, digest, algorithm, f"the npm package {name}@{version}")
            _unpack(data, project / key, f"{name}@{version}", settings.registries.max_package_mb)
        http.report.seconds = time.monotonic() - began
        return http.report


def _unpack(data: bytes, target: Path, what: str, limit_mb: int) -> None:
    """An npm tarball (one top folder, usually ``package/``) into ``target``."""
    limit, total = limit_mb * 2**20 * 16, 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = []
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()):
                    continue
                total += member.size
                if total > limit:
                    raise too_large(f"{what} unpacked", limit // 2**20,
                                    "compiler.registries.max_package_mb")  # fmt: skip
                _, _, inner = member.name.partition("/")
                if inner:
                    member.name = inner
                    members.append(member)
            target.mkdir(parents=True, exist_ok=True)
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _missing(f"the archive of {what} could not be unpacked ({exc})") from None
