"""The systemd units in deploy/systemd: valid for systemd, each restarting its service on
failure, each starting a command this package has."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
INSTALLED = "/opt/outlayer/.venv/bin/outlayer"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_every_service_has_a_unit_and_the_target_wants_them_all() -> None:
    names = {p.stem for p in SERVICES}
    assert names == {f"outlayer-{s}" for s in ("coordinator", "executor", "indexer", "edge",
                                                "compiler")}  # fmt: skip
    wanted = _unit(UNITS / "outlayer.target")["Unit"]["Wants"].split()
    assert sorted(wanted) == sorted(f"{n}.service" for n in names)


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.stem)
def test_a_unit_restarts_its_service_on_failure(path: Path) -> None:
    service = _unit(path)["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"]
    program, command, action = service["ExecStart"].split()
    assert (program, action) == (INSTALLED, "serve")
    assert command == path.stem.removeprefix("outlayer-")
    done = subprocess.run([sys.executable, "-m", "cli.main", command, "serve", "--help"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.stem)
def test_systemd_accepts_the_unit(path: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian's systemd package) checks the units"
    for unit in [*SERVICES, UNITS / "outlayer.target"]:
        text = unit.read_text().replace(INSTALLED, str(Path(sys.executable).parent / "outlayer"))
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / path.name)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
