"""The fetch phase for Rust: a crate's dependencies from a cargo registry, before the build.

Runs on the compiler's host with the network (the registry only); the build then runs offline
in the sandbox against what was fetched, laid out as a cargo ``directory`` source together
with std's own vendored crates (``-Zbuild-std`` needs them).

- A ``Cargo.lock`` whose every registry package the registry has (same version, same checksum)
  is used as it is: exactly those archives are fetched.
- Otherwise (a mirror is always behind crates.io), with ``compiler.allow_lock_reresolution`` the
  lockfile is set aside and the dependencies are resolved again against the registry: the
  fetch phase picks, as cargo would, the highest version each requirement accepts, following
  the features that are switched on, and cargo then resolves offline against exactly that set.
  Without the setting, the build fails naming the package the registry lacks.
- Git dependencies, other registries and paths outside the repository are refused: the build
  can reach nothing but what the fetch phase put in its folder.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outlayer.cargo_manifest import dependencies
from outlayer.config import CompilerSettings
from outlayer.errors import ExecutionErrorType as Category
from services.compiler.deps_http import Downloader, FetchReport, Progress, too_large
from services.compiler.failures import BuildFailure
from services.compiler.semver import best_match

STD_VENDOR = Path("/usr/lib/rustlib/src/rust/library/vendor")
VENDOR = ".vendor"  # in the build folder: the directory source the build uses
_Key = tuple[str, str]  # (crate, version)


def _missing(message: str) -> BuildFailure:
    return BuildFailure(Category.DEPENDENCY_NOT_FOUND, message)


@dataclass
class CargoPlan:
    """What the build must know about the fetch: extra cargo flags, the lockfile's fate."""

    report: FetchReport
    extra_args: list[str] = field(default_factory=list)
    has_dependencies: bool = False


class SparseIndex:
    """A registry spoken to with cargo's sparse index protocol (``sparse+https://...``)."""

    def __init__(self, url: str, downloader: Downloader) -> None:
        self.url = url.removeprefix("sparse+").rstrip("/") + "/"
        self._http = downloader
        self._entries: dict[str, list[dict[str, Any]]] = {}
        self._dl: str | None = None

    def versions(self, name: str) -> list[dict[str, Any]]:
        key = name.lower()
        if key not in self._entries:
            body = self._http.get(self.url + _index_path(key), 64 * 2**20, f"the index of {name}")
            lines = [] if body is None else body.decode("utf-8", "replace").splitlines()
            entries = []
            for line in lines:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            self._entries[key] = entries
        return self._entries[key]

    def download_url(self, name: str, version: str, checksum: str) -> str:
        if self._dl is None:
            body = self._http.get(self.url + "config.json", 2**20, "the registry's config.json")
            try:
                self._dl = str(json.loads(body or b"")["dl"])
            except (ValueError, KeyError, TypeError):
                raise BuildFailure(
                    Category.NETWORK_ERROR,
                    f"the crate registry at {self.url} has no usable config.json; check "
                    "compiler.registries.crates",
                    transient=True,
                ) from None
        dl = self._dl
        prefix = _index_path(name)[: -len(name) - 1]
        markers = {"{crate}": name, "{version}": version, "{prefix}": prefix,
                   "{lowerprefix}": prefix.lower(), "{sha256-checksum}": checksum}  # fmt: skip
        if not any(marker in dl for marker in markers):
            return f"{dl.rstrip('/')}/{name}/{version}/download"
        for marker, value in markers.items():
            dl = dl.replace(marker, value)
        return dl


def _index_path(name: str) -> str:
    if len(name) <= 2:
        return f"{len(name)}/{name}"
    if len(name) == 3:
        return f"3/{name[0]}/{name}"
    return f"{name[:2]}/{name[2:4]}/{name}"


# --- the project's own packages -------------------------------------------------------------
@dataclass
class _LocalPackage:
    name: str
    folder: Path
    manifest: dict[str, Any]


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR, f"{path.name} could not be read as TOML: {exc}"
        ) from None


def local_packages(root: Path, repo_root: Path) -> tuple[list[_LocalPackage], dict[str, Any]]:
    """The workspace's (or the single crate's) packages and path dependencies, and the
    workspace's shared dependency table."""
    manifest = _load(root / "Cargo.toml")
    workspace = manifest.get("workspace", {})
    shared = workspace.get("dependencies", {}) if isinstance(workspace, dict) else {}
    folders = [root] if "package" in manifest else []
    for pattern in workspace.get("members", []) if isinstance(workspace, dict) else []:
        folders += sorted(p for p in root.glob(str(pattern)) if (p / "Cargo.toml").is_file())
    packages: dict[Path, _LocalPackage] = {}
    while folders:
        folder = folders.pop().resolve()
        if folder in packages:
            continue
        if not folder.is_relative_to(repo_root.resolve()):
            raise _missing(
                f"a path dependency leads outside the repository ({folder.name}); the build sees "
                "only the repository: move it inside, or publish it to the registry"
            )
        body = manifest if folder == root.resolve() else _load(folder / "Cargo.toml")
        name = body.get("package", {}).get("name")
        if not isinstance(name, str):
            continue
        packages[folder] = _LocalPackage(name, folder, body)
        for dep in dependencies(body):
            if dep.get("workspace") and isinstance(shared.get(dep["name"]), dict):
                path = shared[dep["name"]].get("path")
            else:
                path = dep.get("path")
            if isinstance(path, str):
                base = root if dep.get("workspace") else folder
                folders.append(base / path)
    return list(packages.values()), shared


def _registry_dependency(
    dep: dict[str, Any], shared: dict[str, Any], who: str
) -> dict[str, Any] | None:
    """A manifest dependency as the registry must serve it (None: a path dependency)."""
    if dep.get("workspace"):
        base = shared.get(dep["name"])
        base_dep = dict(dep)
        if isinstance(base, str):
            base_dep["req"] = base
        elif isinstance(base, dict):
            merged = {**base, "features": [*base.get("features", []), *dep["features"]]}
            for key in ("version", "path", "git", "registry", "package"):
                base_dep.pop(key, None)
            base_dep.update({k: v for k, v in merged.items() if k in ("path", "git", "registry",
                             "package")})  # fmt: skip
            base_dep["req"] = merged.get("version", "*")
            base_dep["features"] = merged["features"]
            base_dep["default_features"] = bool(
                merged.get("default-features", dep["default_features"])
            )
        dep = base_dep
    if "git" in dep:
        raise _missing(
            f"{who} depends on {dep['name']} from git; builds fetch crates from the registry "
            "only: depend on a published version, or vendor it (cargo vendor)"
        )
    if dep.get("registry"):
        raise _missing(
            f"{who} depends on {dep['name']} from the registry {dep['registry']!r}; only the "
            "default registry is available: depend on a crates.io version, or vendor it"
        )
    if "path" in dep:
        return None
    return dep


# --- resolution against the registry ---------------------------------------------------------
class _Resolver:
    """The crates cargo will need, picked as cargo picks them (highest accepted version,
    features unified), so that cargo's own offline resolution finds everything it asks for."""

    def __init__(self, index: SparseIndex) -> None:
        self.index = index
        self.chosen: dict[_Key, dict[str, Any]] = {}
        self.features: defaultdict[_Key, set[str]] = defaultdict(set)
        self.active: defaultdict[_Key, set[str]] = defaultdict(set)
        self.edges: defaultdict[tuple[_Key, str], list[_Key]] = defaultdict(list)
        self.weak: defaultdict[tuple[_Key, str], list[str]] = defaultdict(list)
        self.skipped_dev: list[str] = []

    def require(self, dep: dict[str, Any], who: str) -> _Key:
        name = dep.get("package") or dep["name"]
        requirement = dep.get("req") or "*"
        entries = [e for e in self.index.versions(name) if not e.get("yanked")]
        if not entries:
            raise _missing(
                f"{who} depends on the crate {name} ({requirement}), which the registry "
                f"({self.index.url}) does not have; check the name, or vendor it"
            )
        try:
            version = best_match(requirement, [str(e.get("vers")) for e in entries])
        except ValueError:
            raise _missing(
                f"{who} asks for {name} with a malformed version {requirement!r}"
            ) from None
        if version is None:
            have = ", ".join(sorted({str(e.get("vers")) for e in entries})[-5:])
            raise _missing(
                f"{who} needs {name} {requirement}, but the registry ({self.index.url}) has only "
                f"{have}; relax the requirement, or vendor it"
            )
        key = (str(entries[0]["name"]), version)
        if key not in self.chosen:
            self.chosen[key] = next(e for e in entries if e.get("vers") == version)
            for child in self.chosen[key].get("deps", []):
                if child.get("kind") != "dev" and not child.get("optional"):
                    self.edges[(key, child["name"])].append(
                        self.require(child, f"{name} {version}")
                    )
        if dep.get("default_features", True):
            self.enable(key, "default")
        for feature in dep.get("features", []):
            self.enable(key, str(feature))
        return key

    def _table(self, key: _Key) -> dict[str, list[str]]:
        entry = self.chosen[key]
        return {**entry.get("features", {}), **entry.get("features2", {})}

    def _deps_named(self, key: _Key, name: str) -> list[dict[str, Any]]:
        return [d for d in self.chosen[key].get("deps", [])
                if d["name"] == name and d.get("kind") != "dev"]  # fmt: skip

    def enable(self, key: _Key, feature: str) -> None:
        if feature in self.features[key]:
            return
        self.features[key].add(feature)
        table = self._table(key)
        if feature not in table:  # an optional dependency's implicit feature
            if any(d.get("optional") for d in self._deps_named(key, feature)):
                self.activate(key, feature)
            return
        for item in table[feature]:
            if item.startswith("dep:"):
                self.activate(key, item[4:])
            elif "/" in item:
                name, sub = item.split("/", 1)
                weak = name.endswith("?")
                name = name.rstrip("?")
                optional = any(d.get("optional") for d in self._deps_named(key, name))
                if weak and optional and name not in self.active[key]:
                    self.weak[(key, name)].append(sub)
                    continue
                self.activate(key, name)
                for child in self.edges[(key, name)]:
                    self.enable(child, sub)
            else:
                self.enable(key, item)

    def activate(self, key: _Key, name: str) -> None:
        if name in self.active[key]:
            return
        self.active[key].add(name)
        for dep in self._deps_named(key, name):
            if dep.get("optional"):
                self.edges[(key, name)].append(self.require(dep, f"{key[0]} {key[1]}"))
        for sub in self.weak.pop((key, name), []):
            for child in self.edges[(key, name)]:
                self.enable(child, sub)

    def root(self, package: _LocalPackage, shared: dict[str, Any], features: list[str]) -> None:
        """A package of the project: its dependencies as cargo resolves them for a build
        (dev-dependencies too, as the lockfile lists them, when the registry has them)."""
        optional: dict[str, list[dict[str, Any]]] = defaultdict(list)
        who = f"the package {package.name}"
        for dep in dependencies(package.manifest):
            registry_dep = _registry_dependency(dep, shared, who)
            if registry_dep is None:
                continue
            if registry_dep["optional"]:
                optional[registry_dep["name"]].append(registry_dep)
            elif registry_dep["kind"] == "dev":
                try:
                    self.require(registry_dep, who)
                except BuildFailure:
                    self.skipped_dev.append(registry_dep["name"])
            else:
                self.require(registry_dep, who)
        table = package.manifest.get("features", {})
        wanted = ["default", *features]
        done: set[str] = set()
        while wanted:
            feature = wanted.pop()
            if feature in done:
                continue
            done.add(feature)
            items = table.get(feature, [] if feature == "default" or feature not in optional
                              else [f"dep:{feature}"])  # fmt: skip
            for item in items:
                name, _, sub = str(item).removeprefix("dep:").partition("/")
                name = name.rstrip("?")
                if name in optional:
                    for dep in optional.pop(name):
                        key = self.require(dep, who)
                        if sub:
                            self.enable(key, sub)
                elif not str(item).startswith("dep:") and not sub:
                    wanted.append(str(item))


# --- the phase ------------------------------------------------------------------------------
def fetch_cargo(
    project: Path,
    repo_root: Path,
    build: Path,
    settings: CompilerSettings,
    *,
    progress: Progress,
    features: list[str] | None = None,
) -> CargoPlan:
    """Fetches what the crate at ``project`` needs into ``build/.vendor``."""
    began = time.monotonic()
    packages, shared = local_packages(project, repo_root)
    registry = settings.registries.crates
    with Downloader(settings.registries, settings.package_cache_dir, progress) as http:
        index = SparseIndex(registry, http)
        http.report.ecosystem, http.report.registry = "cargo", index.url
        plan = CargoPlan(http.report)
        wanted = _from_lockfile(project, index, settings, plan, packages=packages, shared=shared)
        if wanted is None:
            resolver = _Resolver(index)
            for package in packages:
                resolver.root(package, shared, features or [])
            wanted = {key: str(entry["cksum"]) for key, entry in resolver.chosen.items()}
            if resolver.skipped_dev:
                # The module never contains dev-dependencies; cargo may leave them out.
                plan.extra_args.append("-Zavoid-dev-deps")
                plan.report.notes.append(
                    "dev-dependencies not in the registry were skipped: "
                    + ", ".join(sorted(set(resolver.skipped_dev)))
                )
        plan.has_dependencies = bool(wanted)
        progress(f"fetching {len(wanted)} crates from {index.url}")
        vendor = build / VENDOR
        vendor.mkdir(parents=True, exist_ok=True)
        for (name, version), checksum in sorted(wanted.items()):
            url = index.download_url(name, version, checksum)
            data = http.archive(url, checksum, "sha256", f"the crate {name} {version}")
            limit_mb = settings.registries.max_package_mb
            _unpack(data, vendor / f"{name}-{version}", (name, version), checksum, limit_mb)
        _link_std(vendor)
        plan.report.seconds = time.monotonic() - began
        return plan


def _from_lockfile(
    project: Path,
    index: SparseIndex,
    settings: CompilerSettings,
    plan: CargoPlan,
    *,
    packages: list[_LocalPackage],
    shared: dict[str, Any],
) -> dict[_Key, str] | None:
    """The lockfile's registry packages when the registry has every one; None to resolve."""
    lock_path = project / "Cargo.lock"
    for package in packages:  # refuses git and foreign registries whatever the lockfile says
        for dep in dependencies(package.manifest):
            _registry_dependency(dep, shared, f"the package {package.name}")
    if not lock_path.is_file():
        return None
    lock = _load(lock_path)
    wanted: dict[_Key, str] = {}
    lacking: list[str] = []
    for entry in lock.get("package", []):
        source = str(entry.get("source", ""))
        if not source:
            continue  # one of the project's own packages
        if source.startswith("git+"):
            raise _missing(
                f"Cargo.lock takes {entry.get('name')} from git; builds fetch crates from the "
                "registry only: depend on a published version, or vendor it"
            )
        name, version, checksum = (
            str(entry.get("name")),
            str(entry.get("version")),
            str(entry.get("checksum", "")),
        )
        match = [e for e in index.versions(name) if e.get("vers") == version]
        if match and (not checksum or match[0].get("cksum") == checksum):
            wanted[(str(match[0]["name"]), version)] = str(match[0]["cksum"])
        else:
            lacking.append(f"{name} {version}")
    if not lacking:
        return wanted
    if not settings.allow_lock_reresolution:
        shown = ", ".join(lacking[:5]) + (
            f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
        )
        raise _missing(
            f"Cargo.lock pins {shown}, which the registry ({index.url}) does not have (or has "
            "with another checksum); update the lockfile to versions it has, or remove Cargo.lock"
        )
    lock_path.rename(lock_path.with_name("Cargo.lock.orig"))
    plan.report.lockfile_reresolved = True
    plan.report.notes.append(
        f"Cargo.lock was resolved again against {index.url}: it pins {len(lacking)} crate "
        f"versions the registry lacks (e.g. {lacking[0]})"
    )
    return None


def _unpack(data: bytes, target: Path, key: _Key, checksum: str, limit_mb: int) -> None:
    """A .crate (tar.gz of ``name-version/``) as a directory-source crate."""
    name, version = key
    prefix = f"{name}-{version}/"
    limit = limit_mb * 2**20 * 8  # unpacked size, generously
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = []
            for member in tar.getmembers():
                if not member.name.startswith(prefix) or not (member.isfile() or member.isdir()):
                    continue  # cargo ignores the rest too; links could point anywhere
                total += member.size
                if total > limit:
                    what = f"the crate {name} {version} unpacked"
                    raise too_large(what, limit // 2**20, "compiler.registries.max_package_mb")
                member.name = member.name[len(prefix) :]
                if member.name:
                    members.append(member)
            target.mkdir(parents=True, exist_ok=True)
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _missing(f"the archive of {name} {version} could not be unpacked ({exc})") from None
    (target / ".cargo-checksum.json").write_text(json.dumps({"files": {}, "package": checksum}))


def _link_std(vendor: Path) -> None:
    """std's vendored crates beside the fetched ones (same path inside the sandbox: /usr is
    mounted where it is on the host). Where both have a crate version, std's copy wins: std's
    own lockfile pins its checksum."""
    if not STD_VENDOR.is_dir():
        return
    for crate in sorted(STD_VENDOR.iterdir()):
        try:
            package = tomllib.loads((crate / "Cargo.toml").read_text())["package"]
            name, version = str(package["name"]), str(package["version"])
        except (OSError, KeyError, TypeError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        fetched = vendor / f"{name}-{version}"
        if fetched.is_dir() and not fetched.is_symlink():
            shutil.rmtree(fetched)
        link = vendor / f"std-{crate.name}"
        if not link.exists():
            link.symlink_to(crate)


def cargo_home_config() -> str:
    return f"""[source.crates-io]
replace-with = "outlayer-fetched"

[source.outlayer-fetched]
directory = "/build/{VENDOR}"

[net]
offline = true
"""
