"""A crate registry for development, served over HTTP with cargo's sparse index protocol.

crates.io is not reachable from development machines here, so the dev stack (and
``outlayer compile --local``) serves Debian's packaged crate sources (``librust-*-dev`` put them
under ``/usr/share/cargo/registry``, one folder per crate version) as a registry of its own:

    GET /index/config.json                      {"dl": ..., "api": null}
    GET /index/{1,2,3/x,ab/cd}/{name}           one JSON line per version (cargo's index format)
    GET /api/v1/crates/{name}/{version}/download  the .crate (a deterministic tar.gz)

The compiler's fetch phase talks to it exactly as it would to crates.io, only at another URL
(``compiler.registries.crates``). Checksums are those of the archives served here.

    python -m devtools.crate_mirror [--port 50070]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import logging
import tarfile
import threading
import tomllib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from outlayer.cargo_manifest import dependencies

DEBIAN_CRATES = Path("/usr/share/cargo/registry")
DEFAULT_PORT = 50070
_LOG = logging.getLogger("devtools.crate_mirror")
_SKIP = {".cargo-checksum.json"}  # a directory source's file, never part of a .crate


@dataclass(frozen=True)
class _Crate:
    name: str
    version: str
    folder: Path
    manifest: dict[str, Any]


def index_path(name: str) -> str:
    """Where cargo's sparse protocol keeps a crate's index file (lowercased)."""
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[:2]}/{n[2:4]}/{n}"


def _archive(crate: _Crate) -> bytes:
    """The crate's folder as a .crate: tar.gz of ``name-version/...``, byte-for-byte stable."""
    raw = io.BytesIO()
    prefix = f"{crate.name}-{crate.version}"
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(crate.folder.rglob("*")):
            relative = path.relative_to(crate.folder)
            if relative.name in _SKIP or not path.is_file() or path.is_symlink():
                continue
            info = tarfile.TarInfo(f"{prefix}/{relative.as_posix()}")
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class CrateRegistry:
    """The crates under some folders (one folder per ``name-version``), as a cargo registry."""

    def __init__(self, roots: list[Path]) -> None:
        self._by_name: dict[str, list[_Crate]] = {}
        for root in roots:
            for folder in sorted(root.glob("*")) if root.is_dir() else []:
                crate = self._read(folder)
                if crate is not None:
                    self._by_name.setdefault(crate.name.lower(), []).append(crate)
        self._archives: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _read(folder: Path) -> _Crate | None:
        try:
            manifest = tomllib.loads((folder / "Cargo.toml").read_text())
            package = manifest["package"]
            return _Crate(str(package["name"]), str(package["version"]), folder, manifest)
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def names(self) -> list[str]:
        return sorted(c.name for crates in self._by_name.values() for c in crates)

    def archive(self, name: str, version: str) -> bytes | None:
        for crate in self._by_name.get(name.lower(), []):
            if crate.version == version:
                with self._lock:
                    key = (crate.name, crate.version)
                    if key not in self._archives:
                        self._archives[key] = _archive(crate)
                    return self._archives[key]
        return None

    def index_file(self, name: str) -> bytes | None:
        crates = self._by_name.get(name.lower())
        if not crates:
            return None
        lines = []
        for crate in crates:
            archive = self.archive(crate.name, crate.version)
            assert archive is not None
            features = {k: list(v) for k, v in crate.manifest.get("features", {}).items()}
            modern = {k: v for k, v in features.items()
                      if any(i.startswith("dep:") or "?/" in i for i in v)}  # fmt: skip
            entry: dict[str, Any] = {
                "name": crate.name,
                "vers": crate.version,
                "deps": dependencies(crate.manifest),
                "cksum": hashlib.sha256(archive).hexdigest(),
                "features": {k: v for k, v in features.items() if k not in modern},
                "yanked": False,
                "links": crate.manifest["package"].get("links"),
            }
            if modern:
                entry["features2"], entry["v"] = modern, 2
            rust_version = crate.manifest["package"].get("rust-version")
            if isinstance(rust_version, str):
                entry["rust_version"] = rust_version
            lines.append(json.dumps(entry, separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode()


class CrateMirror:
    """Serves a CrateRegistry on 127.0.0.1 (a thread); ``index_url`` is what cargo is given."""

    def __init__(self, registry: CrateRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = registry
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, kind = mirror._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                _LOG.debug("%s " + format, self.address_string(), *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self.index_url = f"sparse+{self.base_url}/index/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="crate-mirror")  # fmt: skip

    def _answer(self, path: str) -> tuple[int, bytes, str]:
        path = path.split("?", 1)[0]
        if path == "/index/config.json":
            config = {"dl": f"{self.base_url}/api/v1/crates", "api": None}
            return 200, json.dumps(config).encode(), "application/json"
        if path.startswith("/index/"):
            name = path.rsplit("/", 1)[-1]
            if path == f"/index/{index_path(name)}":
                body = self.registry.index_file(name)
                if body is not None:
                    return 200, body, "text/plain"
            return 404, b"not found\n", "text/plain"
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[:3] == ["api", "v1", "crates"] and parts[5] == "download":
            archive = self.registry.archive(parts[3], parts[4])
            if archive is not None:
                return 200, archive, "application/gzip"
        return 404, b"not found\n", "text/plain"

    def start(self) -> CrateMirror:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_debian_mirror(port: int = 0) -> CrateMirror:
    """Debian's packaged crates, served on loopback (port 0: any free port)."""
    return CrateMirror(CrateRegistry([DEBIAN_CRATES]), port=port).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--root", type=Path, action="append", help="crate folders to serve")
    args = parser.parse_args(argv)
    registry = CrateRegistry(args.root or [DEBIAN_CRATES])
    mirror = CrateMirror(registry, port=args.port)
    print(f"serving {len(registry)} crates at {mirror.index_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        mirror._server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
