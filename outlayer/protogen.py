"""Generates the Python gRPC code for ``protos/`` into ``outlayer/v1`` (run by set-up).

The generated files are not committed: set-up regenerates them, so they always match the protos.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
OUTPUT_PACKAGE = REPO_ROOT / "outlayer" / "v1"


def generate() -> list[Path]:
    """Regenerates every ``outlayer/v1/*.proto``; returns the proto files it compiled."""
    protos = sorted((PROTO_ROOT / "outlayer" / "v1").glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / 'outlayer' / 'v1'}")
    if OUTPUT_PACKAGE.exists():
        shutil.rmtree(OUTPUT_PACKAGE)
    OUTPUT_PACKAGE.mkdir(parents=True)
    (OUTPUT_PACKAGE / "__init__.py").write_text('"""Generated from protos/outlayer/v1."""\n')
    well_known = resources.files("grpc_tools") / "_proto"
    # google/api/annotations.proto and http.proto (the grpc-gateway HTTP rules) ship with
    # googleapis-common-protos, next to their generated modules.
    googleapis = Path(str(resources.files("google.api").joinpath("http.proto"))).parents[2]
    bin_dir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"-I{googleapis}",
        f"--python_out={REPO_ROOT}",
        f"--grpc_python_out={REPO_ROOT}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={REPO_ROOT}",
        f"--mypy_grpc_out={REPO_ROOT}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    status = protoc.main(args)
    if status != 0:
        raise SystemExit(f"protoc failed (exit {status}); see the messages above")
    return protos


def main() -> None:
    protos = generate()
    print(f"    generated outlayer/v1 from {len(protos)} proto file(s)")


if __name__ == "__main__":
    main()
