#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages, the virtualenv, generated protos and the
# example guests. Quick when everything is already in place (each step checks before it works).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }

# --- Debian packages ------------------------------------------------------------------------
# C guests: clang + wasi-libc; Rust guests: Debian's Rust with its std source (no crates.io here);
# NEAR contracts: nearc compiles Python with Debian's emscripten. The compiler service's
# sandboxes: the Docker Engine and bubblewrap; git and make for fetching and building sources;
# CMake, llvm-ar and libc++ for C/C++ guests; Debian's packaged crates, which the development
# crate registry serves (devtools/crate_mirror.py; crates.io is not reachable here). Chromium
# (headless) for the dashboard's browser tests (tests/dashboard/).
APT_PACKAGES=(
  clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32
  rustc-web cargo-web rust-web-src lld-22
  emscripten
  docker.io bubblewrap git make
  cmake llvm-16 libc++-16-dev-wasm32 libc++abi-16-dev-wasm32
  librust-serde-json-dev librust-serde-derive-dev librust-sha2-dev librust-sha3-dev librust-hex-dev
  librust-base64-dev librust-bs58-dev librust-rand-dev librust-getrandom-dev librust-chrono-dev
  librust-regex-dev librust-anyhow-dev librust-thiserror-dev librust-once-cell-dev
  chromium fonts-liberation
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: installing Debian packages needs root; run 'sudo $0' once, or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# --- Python virtualenv -----------------------------------------------------------------------
PYTHON=${OUTLAYER_PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null; then
  echo "error: $PYTHON not found; OutLayer needs Python 3.11 (set OUTLAYER_PYTHON to its path)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  step "Creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.outlayer-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "Installing Python packages into .venv (pyproject.toml changed)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" >"$stamp"
else
  step "Python packages: up to date"
fi

# --- Docker Engine (the compiler's build sandbox) ----------------------------------------------
# No engine runs on these machines by default. Started without iptables or a bridge (builds run
# with --network none anyway) and with the vfs storage driver, which works in any file system.
if ! docker info >/dev/null 2>&1; then
  step "Starting the Docker Engine (log: /tmp/outlayer-dockerd.log)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: the Docker Engine is not running and starting it needs root; start it (or run 'sudo $0')" >&2
    exit 1
  fi
  nohup dockerd --iptables=false --bridge=none --storage-driver=vfs >/tmp/outlayer-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not start; see /tmp/outlayer-dockerd.log" >&2; exit 1; }
else
  step "Docker Engine: running"
fi

# --- Generated code and guests ---------------------------------------------------------------
step "Generating gRPC code from protos/"
.venv/bin/python -m outlayer.protogen

step "Importing the compiler's build image (nothing is pulled; see deploy/compiler/)"
.venv/bin/python -m services.compiler.image

step "Patching nearc's yield bindings (see devtools/nearc_patch.py)"
.venv/bin/python -m devtools.nearc_patch

step "Building example guests (C, Rust → wasm32-wasip1) and NEAR contracts (nearc; ~1 min each the first time)"
.venv/bin/python -m devtools.guestbuild

# --- The dashboard (dashboard/: TypeScript, Vite) -----------------------------------------------
# npm ci from package-lock.json, then the build into build/dashboard/ (served by the edge at
# /dashboard/); skipped when the sources have not changed since the last build.
if ! command -v npm >/dev/null; then
  step "Installing Node.js and npm (Debian) for the dashboard"
  apt-get install -y -q --no-install-recommends nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "error: the dashboard's build (Vite 8) needs Node.js 20 or newer; this is $(node --version)" >&2
  exit 1
fi
dash_stamp=build/dashboard/.sources
dash_want=$(cd dashboard && find package.json package-lock.json index.html vite.config.ts tsconfig.json src \
  -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ ! -d dashboard/node_modules ] || [ dashboard/package-lock.json -nt dashboard/node_modules/.package-lock.json ]; then
  step "Installing the dashboard's npm packages (npm ci, from package-lock.json)"
  (cd dashboard && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ "$(cat "$dash_stamp" 2>/dev/null)" != "$dash_want" ]; then
  step "Building the dashboard (type-check, then Vite) into build/dashboard/"
  (cd dashboard && npm run --silent build)
  echo "$dash_want" >"$dash_stamp"
else
  step "Dashboard: built (sources unchanged)"
fi

step "Set-up complete"
