"""The fetch phase for Go: the modules ``go.mod`` requires, from the configured module proxy.

``go mod download`` runs on the compiler's host with ``GOPROXY`` set to
``compiler.registries.go_proxy`` only (no direct VCS fetches: ``GOPROXY`` has no ``direct``),
``GOTOOLCHAIN=local`` (no toolchain downloads) and the module cache inside the build folder;
it runs no module code. ``go.sum`` pins every module's hash. The build then runs offline
(``GOPROXY=off``) against that module cache. A module with ``vendor/`` skips this phase.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from outlayer.config import CompilerSettings
from outlayer.errors import ExecutionErrorType as Category
from services.compiler.deps_http import FetchReport, Progress, too_large
from services.compiler.failures import BuildFailure

_REQUIRE = re.compile(r"^\s*require\s*(\(|\S)", re.M)


def fetch_go(
    project: Path, build: Path, settings: CompilerSettings, *, progress: Progress, root: Path
) -> FetchReport:
    began = time.monotonic()
    report = FetchReport(ecosystem="go", registry=settings.registries.go_proxy)
    go_mod = (project / "go.mod").read_text(errors="replace")
    if not _REQUIRE.search(go_mod):
        return report  # std only
    if not (project / "go.sum").is_file():
        raise BuildFailure(
            Category.DEPENDENCY_NOT_FOUND,
            "go.mod requires modules but go.sum is missing: run `go mod tidy` and commit go.sum "
            "(OutLayer fetches modules by checked hash only), or vendor them (go mod vendor)",
        )
    cache = build / ".gomodcache"
    env = {
        "PATH": f"{root}/bin:/usr/bin:/bin",
        "HOME": str(build / ".home"),
        "GOROOT": str(root),
        "GOMODCACHE": str(cache),
        "GOPATH": str(build / ".gopath"),
        "GOCACHE": str(build / ".gocache"),
        "GOPROXY": settings.registries.go_proxy,
        "GOSUMDB": "off",  # go.sum is the check; a sum database is one more host to reach
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GOTELEMETRY": "off",
        "GONOSUMDB": "",
        "GOPRIVATE": "",
    }
    progress(f"fetching Go modules from {settings.registries.go_proxy}")
    try:
        run = subprocess.run(
            [f"{root}/bin/go", "mod", "download", "all"], cwd=project, env=env,
            capture_output=True, text=True, timeout=settings.registries.fetch_timeout_seconds,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BuildFailure(
            Category.NETWORK_ERROR,
            "fetching Go modules took longer than compiler.registries.fetch_timeout_seconds; "
            "try again later",
            transient=True,
        ) from None
    output = run.stdout + run.stderr
    if run.returncode != 0:
        text = output.lower()
        if re.search(r"dial tcp|connection refused|no such host|i/o timeout|tls handshake", text):
            raise BuildFailure(
                Category.NETWORK_ERROR,
                "could not reach the Go module proxy; check compiler.registries.go_proxy, or "
                "try again in a minute",
                transient=True,
                hidden_log=output,
            )
        missing = re.search(r"([\w./-]+@v[\w.+-]+): (?:reading|.*not found|.*unknown revision)",
                            output)  # fmt: skip
        name = f" ({missing.group(1)})" if missing else ""
        raise BuildFailure(
            Category.DEPENDENCY_NOT_FOUND,
            f"a Go module{name} could not be fetched from the module proxy: check go.mod, or "
            "vendor it (go mod vendor)",
            hidden_log=output,
        )
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.is_dir() else 0
    if size > settings.registries.max_fetch_mb * 2**20:
        raise too_large("the project's Go modules together", settings.registries.max_fetch_mb,
                        "compiler.registries.max_fetch_mb")  # fmt: skip
    for folder, dirs, _ in os.walk(cache):  # go makes its cache read-only; builds need to read
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    report.packages = (
        sum(1 for _ in (cache / "cache" / "download").rglob("*.zip")) if cache.is_dir() else 0
    )
    report.bytes, report.downloaded = size, report.packages
    report.seconds = time.monotonic() - began
    return report
