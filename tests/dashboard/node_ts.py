"""The dashboard's TypeScript modules compiled by its own tsc and run by Node, as the browser runs
them: a compiled folder that finds the dashboard's npm packages, and a runner for scripts in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
TSC = DASHBOARD / "node_modules" / ".bin" / "tsc"


def compile_modules(out: Path, *modules: str) -> Path:
    """``dashboard/src/<module>.ts`` (and what they import) compiled into ``out``."""
    if not TSC.is_file():
        pytest.fail("the dashboard's npm packages are missing: run scripts/setup.sh", pytrace=False)
    sources = [str(DASHBOARD / "src" / f"{name}.ts") for name in modules]
    command = [
        str(TSC),
        "--target",
        "es2022",
        "--module",
        "es2022",
        "--moduleResolution",
        "bundler",
        "--lib",
        "es2022,dom",
        "--strict",
        "--skipLibCheck",
        "--outDir",
        str(out),
        *sources,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.fail(f"tsc failed:\n{done.stdout}{done.stderr}", pytrace=False)
    (out / "package.json").write_text('{"type": "module"}')
    # Node looks for packages in node_modules beside the script, as Vite does for the build.
    (out / "node_modules").symlink_to(DASHBOARD / "node_modules")
    return out


def run_node(script: Path, *args: str | Path) -> Any:
    done = subprocess.run(
        ["node", str(script), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode:
        pytest.fail(f"node {script.name} failed:\n{done.stdout}{done.stderr}", pytrace=False)
    return json.loads(done.stdout)
