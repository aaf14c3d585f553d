"""Builds the wasm artifacts into ``build/``: example and benchmark guests, and the NEAR
contracts (run by set-up and the tests).

Each is rebuilt only when its sources or its build command changed. C guests use Debian's clang
and wasi-libc; the Rust guest uses Debian's Rust, building std from source (no crates.io); the
contracts are Python compiled by nearc (MicroPython + Debian's emscripten).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devtools import nearc_patch

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "build" / "guests"
CONTRACTS_OUT_DIR = REPO_ROOT / "build" / "contracts"
WASI_SYSROOT_LIB = Path("/usr/lib/wasm32-wasi")
CLANG = "clang-16"
DEBIAN_CARGO = "/usr/bin/cargo"


@dataclass(frozen=True)
class Guest:
    name: str
    sources: tuple[Path, ...]
    command: tuple[str, ...]
    output: Path
    built_file: Path  # where the command leaves its result (copied to ``output``)
    env: tuple[tuple[str, str], ...] = ()
    cwd: Path = REPO_ROOT


def _c_guest(name: str, source: Path) -> Guest:
    out = OUT_DIR / f"{name}.wasm"
    command = (CLANG, "--target=wasm32-wasi", "-O2", "-o", str(out), str(source))
    return Guest(name, (source,), command, out, out)


def _native(name: str, source: Path) -> Guest:
    out = OUT_DIR / name
    return Guest(name, (source,), ("cc", "-O2", "-o", str(out), str(source)), out, out)


STD_VENDOR = "/usr/lib/rustlib/src/rust/library/vendor"


def _rust_guest(name: str, crate: Path, *, also: tuple[Path, ...] = ()) -> Guest:
    """``also``: folders the crate depends on by path (their changes rebuild it too)."""
    target_dir = REPO_ROOT / "build" / "cargo-target"
    rustflags = " ".join(
        [
            "-C link-self-contained=no",
            "-C linker=/usr/lib/llvm-22/bin/wasm-ld",
            f"-L {WASI_SYSROOT_LIB}",
            f"-C link-arg={WASI_SYSROOT_LIB / 'crt1-command.o'}",
        ]
    )
    sources = tuple(
        sorted(
            p
            for folder in (crate, *also)
            for p in folder.rglob("*")
            if p.is_file() and "target" not in p.parts
        )
    )
    command = (
        DEBIAN_CARGO, "build", "--release", "--quiet", "--target", "wasm32-wasip1",
        "-Zbuild-std=std,panic_abort", "--target-dir", str(target_dir),
        # std's own crates from Debian's rust-web-src: nothing is downloaded.
        "--config", 'source.crates-io.replace-with="vendored-std"',
        "--config", f'source.vendored-std.directory="{STD_VENDOR}"',
    )  # fmt: skip
    env = (
        ("PATH", "/usr/bin:" + os.environ.get("PATH", "")),
        ("RUSTC_BOOTSTRAP", "1"),
        ("RUSTFLAGS", rustflags),
        ("CARGO_HOME", str(REPO_ROOT / "build" / "cargo-home")),
    )
    built = target_dir / "wasm32-wasip1" / "release" / f"{crate.name}.wasm"
    return Guest(name, sources, command, OUT_DIR / f"{name}.wasm", built, env, crate)


def _contract(name: str, folder: Path, *, mpz32: bool = False) -> Guest:
    out = CONTRACTS_OUT_DIR / f"{name}.wasm"
    nearc = str(Path(sys.executable).parent / "nearc")
    sources = (folder / "contract.py", folder / "pyproject.toml")
    # The patch's marker is part of the fingerprint: a changed patch rebuilds the contracts.
    env: tuple[tuple[str, str], ...] = (("OUTLAYER_NEARC_PATCH", nearc_patch.MARKER),)
    if mpz32:  # big integers in 32-bit digits (MicroPython's default on wasm32 is 16)
        env += nearc_patch.MPZ32_ENV
    return Guest(name, sources, (nearc, "contract.py", "-o", str(out)), out, out, env, folder)


def all_contracts() -> list[Guest]:
    contracts = REPO_ROOT / "contract"
    return [
        _contract("outlayer", contracts / "outlayer"),
        _contract("client_example", contracts / "client_example"),
        _contract("coin_flip", contracts / "coin_flip"),
        _contract("test_token", contracts / "test_token"),
        _contract("test_nft", contracts / "test_nft"),
        # ECDSA P-256 in MicroPython: 32-bit digits make it 2.3x cheaper (docs/performance.md).
        _contract("register", contracts / "register", mpz32=True),
    ]


def all_guests() -> list[Guest]:
    examples = REPO_ROOT / "examples" / "guests"
    bench = REPO_ROOT / "bench" / "guests"
    sdk = REPO_ROOT / "sdk" / "rust"
    return [
        _c_guest("echo_json_c", examples / "c" / "echo_json.c"),
        _c_guest("env_report", examples / "c" / "env_report.c"),
        _rust_guest("echo_json_rust", examples / "rust" / "echo-json"),
        # The Rust SDK's coin flip, settled on localnet by contract/coin_flip in the tests.
        _rust_guest("coin_flip_rust", sdk / "examples" / "coin-flip", also=(sdk / "outlayer",)),
        # The Rust SDK's view reader: a guest reading a contract's view method on localnet.
        _rust_guest("view_reader_rust", sdk / "examples" / "view-reader", also=(sdk / "outlayer",)),
        _c_guest("cpu_bound", bench / "cpu_bound.c"),
        _native("cpu_bound_native", bench / "cpu_bound.c"),
    ]


def _fingerprint(guest: Guest) -> str:
    digest = hashlib.sha256(repr((guest.command, guest.env)).encode())
    for source in guest.sources:
        digest.update(str(source.relative_to(REPO_ROOT)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def build(guest: Guest) -> bool:
    """Builds one guest if needed; returns True when it was (re)built."""
    stamp = guest.output.parent / f".{guest.name}.stamp"
    fingerprint = _fingerprint(guest)
    if guest.output.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return False
    guest.output.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which(guest.command[0]) is None:
        raise SystemExit(
            f"cannot build {guest.name}: {guest.command[0]} is not installed; "
            "run scripts/setup.sh (it installs the toolchains)"
        )
    began = time.monotonic()
    print(f"    building {guest.name} ...", flush=True)
    # nearc runs make without -j: both cores shorten a contract's build (not in the fingerprint:
    # how fast a build runs does not change what it makes).
    env = {**os.environ, "MAKEFLAGS": f"-j{os.cpu_count() or 1}", **dict(guest.env)}
    done = subprocess.run(
        guest.command, cwd=guest.cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"building {guest.name} failed (exit {done.returncode}); see above")
    if guest.built_file != guest.output:
        shutil.copyfile(guest.built_file, guest.output)
    stamp.write_text(fingerprint)
    print(f"    built {guest.output.relative_to(REPO_ROOT)} in {time.monotonic() - began:.1f} s")
    return True


def artifact(name: str) -> bytes:
    """The bytes of a guest or contract by name, built first if it is missing or stale."""
    (target,) = [t for t in all_guests() + all_contracts() if t.name == name]
    build(target)
    return target.output.read_bytes()


def main() -> None:
    targets = all_guests() + all_contracts()
    built = sum(build(target) for target in targets)
    if not built:
        print(f"    all {len(targets)} guests and contracts up to date")


if __name__ == "__main__":
    main()
