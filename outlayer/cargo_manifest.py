"""Cargo manifests read the way cargo's registry index describes them (one shape for both).

Used by the compiler's fetch phase (to know what a project depends on) and by the development
crate registry (to publish Debian's crate folders in cargo's index format).
"""

from __future__ import annotations

from typing import Any

DEPENDENCY_TABLES = (
    ("normal", ("dependencies",)),
    ("build", ("build-dependencies", "build_dependencies")),
    ("dev", ("dev-dependencies", "dev_dependencies")),
)


def dependency(name: str, spec: Any, kind: str, target: str | None) -> dict[str, Any]:
    """One dependency as a registry index lists it (plus ``path``/``git``/``workspace`` when a
    manifest says them, which an index never does)."""
    body: dict[str, Any] = {"version": spec} if isinstance(spec, str) else dict(spec)
    dep: dict[str, Any] = {
        "name": name,
        "req": body.get("version", "*"),
        "features": list(body.get("features", [])),
        "optional": bool(body.get("optional", False)),
        "default_features": bool(body.get("default-features", body.get("default_features", True))),
        "target": target,
        "kind": kind,
        "registry": body.get("registry"),
    }
    for key in ("package", "path", "git", "workspace"):
        if key in body:
            dep[key] = body[key]
    return dep


def dependencies(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every dependency of a manifest: all kinds, all targets."""
    tables: list[tuple[str | None, dict[str, Any]]] = [(None, manifest)]
    tables += [
        (t, body) for t, body in manifest.get("target", {}).items() if isinstance(body, dict)
    ]
    found: list[dict[str, Any]] = []
    for target, body in tables:
        for kind, names in DEPENDENCY_TABLES:
            for table in names:
                entries = body.get(table, {})
                if isinstance(entries, dict):
                    found += [dependency(n, s, kind, target) for n, s in entries.items()]
    return found
