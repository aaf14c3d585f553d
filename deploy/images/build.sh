#!/usr/bin/env bash
# Builds OutLayer's container images locally; nothing is pulled from a registry.
#
#   deploy/images/build.sh            # outlayer-base:bookworm, then outlayer:<version>
#   deploy/images/build.sh --rebuild  # both again, even when they exist
#
# 1. The base image: a minimal Debian 12 root file system made by debootstrap from the Debian
#    mirror apt uses (python3.11, venv, git, CA certificates), imported with `docker import`.
#    Made once: kept while the image exists.
# 2. The platform image (deploy/images/Dockerfile) on top: this package and its dependencies
#    installed from wheels built here (pip wheel, on the host, from PyPI), so the image build
#    itself needs no network. Rebuilt only when what goes in changed (the image carries the
#    digest of the wheels' contents as a label).
# 3. PostgreSQL for the Compose file (deploy/images/postgres.Dockerfile, Debian's postgresql-15
#    installed with apt on the base image: that one step uses the host's network).
#
# Each step says what it does; an image that exists (and is current) is kept. Run as root (debootstrap); needs a running Docker Engine. Environment: OUTLAYER_IMAGE (default
# outlayer:<version from pyproject.toml>), OUTLAYER_BASE_IMAGE (default outlayer-base:bookworm),
# OUTLAYER_POSTGRES_IMAGE (default outlayer-postgres:15),
# DEBIAN_MIRROR (default: the first deb.debian.org-style URI of apt's sources), PYTHON (default
# the project's .venv/bin/python).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${OUTLAYER_IMAGE_WORK:-$ROOT/build/images}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
IMAGE="${OUTLAYER_IMAGE:-outlayer:$VERSION}"
BASE="${OUTLAYER_BASE_IMAGE:-outlayer-base:bookworm}"
POSTGRES="${OUTLAYER_POSTGRES_IMAGE:-outlayer-postgres:15}"
SUITE=bookworm
PACKAGES=python3.11,python3.11-venv,python3-pip,ca-certificates,git,tini
REBUILD=0
[[ "${1:-}" == "--rebuild" ]] && REBUILD=1

step() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }

mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)"
  [[ -z "$uri" ]] && uri="$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

has_image() { docker image inspect "$1" >/dev/null 2>&1; }

docker info >/dev/null 2>&1 || { echo "build.sh: no Docker Engine answers (start dockerd)" >&2; exit 1; }
mkdir -p "$WORK"

# --- 1. the base image ------------------------------------------------------------------------
if [[ $REBUILD == 0 ]] && has_image "$BASE"; then
  step "base image $BASE exists (--rebuild to make it again)"
else
  step "base image $BASE: debootstrap $SUITE ($PACKAGES)"
  if ! command -v debootstrap >/dev/null; then
    note "installing debootstrap"
    apt-get install -y --no-install-recommends debootstrap >/dev/null
  fi
  ROOTFS="$WORK/rootfs"
  rm -rf "$ROOTFS" && mkdir -p "$ROOTFS"
  MIRROR="$(mirror)"
  note "from $MIRROR (a few minutes; progress below)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" 2>&1 \
    | grep --line-buffered -E '^I: (Retrieving|Validating|Extracting|Installing|Configuring|Base system)' \
    | awk '{ n++; if ($2 != last || n % 25 == 0) { print "    " $0; fflush() } last = $2 }' >&2
  note "trimming apt lists, caches and docs"
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/usr/share/doc/* \
         "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
  note "importing ($(du -sh "$ROOTFS" | cut -f1))"
  tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
  note "$BASE imported"
fi

# --- 2. the platform image --------------------------------------------------------------------
step "wheels for outlayer $VERSION and its dependencies (pip wheel; pip's cache makes it quick)"
CONTEXT="$WORK/context"
rm -rf "$CONTEXT" && mkdir -p "$CONTEXT/wheels"
[[ -d "$ROOT/outlayer/v1" ]] || { echo "build.sh: outlayer/v1 is missing: run scripts/setup.sh (it generates the gRPC code)" >&2; exit 1; }
"$PYTHON" -m pip wheel --quiet --wheel-dir "$CONTEXT/wheels" "$ROOT" 2>&1 | { grep -v 'is ignored: it is neither' || true; } | sed 's/^/    /' >&2
note "$(ls "$CONTEXT/wheels" | wc -l) wheels, $(du -sh "$CONTEXT/wheels" | cut -f1)"
cp "$HERE/Dockerfile" "$HERE/healthcheck.py" "$CONTEXT/"
# What the image is made of: the wheels' contents (not their timestamps), the two files.
DIGEST="$("$PYTHON" - "$CONTEXT" <<'PY'
import hashlib, sys, zipfile
from pathlib import Path

context = Path(sys.argv[1])
digest = hashlib.sha256()
for wheel in sorted((context / "wheels").glob("*.whl")):
    digest.update(wheel.name.encode())
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + hashlib.sha256(archive.read(name)).digest())
for name in ("Dockerfile", "healthcheck.py"):
    digest.update((context / name).read_bytes())
print(digest.hexdigest()[:16])
PY
)"
if [[ $REBUILD == 0 ]] && has_image "$IMAGE" \
   && [[ "$(docker image inspect -f '{{ index .Config.Labels "org.outlayer.inputs" }}' "$IMAGE")" == "$DIGEST" ]]; then
  step "platform image $IMAGE is up to date (inputs $DIGEST)"
else
  step "platform image $IMAGE (inputs $DIGEST) from deploy/images/Dockerfile"
  # The Engine here runs without a bridge: the build needs no network (wheels are local).
  docker build --network none --build-arg "BASE=$BASE" \
    --label "org.outlayer.inputs=$DIGEST" -t "$IMAGE" "$CONTEXT" 2>&1 | sed 's/^/    /' >&2
fi
rm -rf "$CONTEXT"

# --- 3. PostgreSQL for the Compose deployment ---------------------------------------------------
if [[ $REBUILD == 0 ]] && has_image "$POSTGRES"; then
  step "PostgreSQL image $POSTGRES exists"
else
  step "PostgreSQL image $POSTGRES (Debian's postgresql-15, apt over the host's network)"
  PGCONTEXT="$WORK/postgres"
  rm -rf "$PGCONTEXT" && mkdir -p "$PGCONTEXT"
  cp "$HERE/postgres.Dockerfile" "$PGCONTEXT/Dockerfile"
  cp "$HERE/postgres-entrypoint.sh" "$PGCONTEXT/"
  docker build --network host --build-arg "BASE=$BASE" -t "$POSTGRES" \
    "$PGCONTEXT" 2>&1 | sed 's/^/    /' >&2
  rm -rf "$PGCONTEXT"
fi

step "checking: outlayer --help inside $IMAGE"
docker run --rm --network none "$IMAGE" --help | head -3 | sed 's/^/    /' >&2
step "done: $BASE, $IMAGE, $POSTGRES"
