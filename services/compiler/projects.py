"""What kind of project a source is, and how it is built to WASI.

Supported: a Rust crate (``Cargo.toml`` at the root, built with cargo for ``wasm32-wasip1``), a C
project with a ``Makefile`` (``make`` with clang and wasi-libc; it leaves one ``.wasm``), or a
single C file. Builds are offline: Rust crates may use std and vendored dependencies only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outlayer.errors import ExecutionErrorType as Category
from services.compiler.failures import BuildFailure, c_failure, rust_failure

# Inside the sandbox: the build folder (writable) and, in it, the source.
BUILD_ROOT = Path("/build")
SOURCE_DIR = BUILD_ROOT / "src"
WASI_SYSROOT_LIB = "/usr/lib/wasm32-wasi"
CLANG = "clang-16"
WASM_LD = "/usr/lib/llvm-22/bin/wasm-ld"
RUST_VENDOR = "/usr/lib/rustlib/src/rust/library/vendor"

# Builds std from Debian's sources with their vendored crates; the network is never asked.
CARGO_HOME_CONFIG = f"""[source.crates-io]
replace-with = "outlayer-offline"

[source.outlayer-offline]
directory = "{RUST_VENDOR}"

[net]
offline = true
"""


@dataclass(frozen=True)
class Recipe:
    kind: str  # "rust", "c-make", "c-file"
    argv: list[str]
    env: dict[str, str]
    # Files the build needs besides the source (relative to the build folder): name -> text.
    files: dict[str, str] = field(default_factory=dict)
    # Where the module is, given the build folder on the host.
    locate: Callable[[Path], Path] = lambda build: build
    classify: Callable[[str], BuildFailure] = c_failure
    # Rust: the release profile's settings that shape std (a prebuilt std is reused per profile).
    std_profile: dict[str, Any] | None = None


# The parts of a release profile that change how std is compiled.
STD_PROFILE_KEYS = ("opt-level", "debug", "debug-assertions", "overflow-checks", "lto", "panic",
                    "codegen-units", "strip")  # fmt: skip


def std_profile(manifest: dict[str, Any]) -> dict[str, Any]:
    release = manifest.get("profile", {}).get("release", {})
    return {k: release[k] for k in STD_PROFILE_KEYS if isinstance(release.get(k), str | int | bool)}


def _base_env() -> dict[str, str]:
    home = str(BUILD_ROOT / ".home")
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LC_ALL": "C.UTF-8"}


def detect(source_dir: Path) -> Recipe:
    """The recipe for the project checked out in ``source_dir`` (on the host)."""
    if (source_dir / "Cargo.toml").is_file():
        return _rust(source_dir)
    if (source_dir / "Makefile").is_file() or (source_dir / "makefile").is_file():
        return _c_make()
    c_files = sorted(p.name for p in source_dir.glob("*.c"))
    if len(c_files) == 1:
        return _c_file(c_files[0])
    found = ", ".join(sorted(p.name for p in source_dir.iterdir())[:8]) or "nothing"
    raise BuildFailure(
        Category.COMPILATION_ERROR,
        "unsupported project: OutLayer builds a Rust crate (Cargo.toml at the repository root), "
        "a C project with a Makefile, or a single .c file; the repository root has " + found,
    )


def _rust(source_dir: Path) -> Recipe:
    try:
        manifest = tomllib.loads((source_dir / "Cargo.toml").read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR, f"Cargo.toml is not valid TOML: {exc}"
        ) from None
    package = manifest.get("package", {}).get("name")
    if not isinstance(package, str):
        raise BuildFailure(
            Category.RUST_COMPILATION_ERROR,
            "Cargo.toml has no [package] name: OutLayer builds one binary crate (workspaces "
            "are not supported)",
        )
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
    argv = [
        "cargo", "build", "--release", "--offline", "--target", "wasm32-wasip1",
        "-Zbuild-std=std,panic_abort", "--target-dir", str(BUILD_ROOT / ".target"),
    ]  # fmt: skip

    def locate(build: Path) -> Path:
        release = build / ".target" / "wasm32-wasip1" / "release"
        named = release / f"{package}.wasm"
        if named.is_file():
            return named
        return _single_wasm(sorted(release.glob("*.wasm")), "cargo")

    # A crate with its own cargo configuration (vendored dependencies) keeps it; otherwise the
    # build sees std's vendored crates only.
    own_config = any((source_dir / ".cargo" / n).is_file() for n in ("config.toml", "config"))
    files = {} if own_config else {".cargo-home/config.toml": CARGO_HOME_CONFIG}
    # Cargo's fingerprints decide whether the prebuilt std fits (a crate's own configuration
    # may make it not fit: then std is rebuilt, never misused).
    return Recipe("rust", argv, env, files, locate, rust_failure, std_profile(manifest))


def _c_make() -> Recipe:
    cc = f"{CLANG} --target=wasm32-wasi"
    env = {**_base_env(), "CC": cc, "CFLAGS": "-O2", "LD": WASM_LD, "AR": "llvm-ar-16"}
    argv = ["make", f"CC={cc}", "-j2"]

    def locate(build: Path) -> Path:
        source = build / "src"
        found = [p for p in sorted(source.rglob("*.wasm")) if not _hidden(p, source)]
        return _single_wasm(found, "make")

    return Recipe("c-make", argv, env, {}, locate, c_failure)


def _c_file(name: str) -> Recipe:
    output = BUILD_ROOT / "out.wasm"
    argv = [CLANG, "--target=wasm32-wasi", "-O2", "-o", str(output), name]
    return Recipe("c-file", argv, _base_env(), {}, lambda b: b / "out.wasm", c_failure)


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
        "which to run",
    )
