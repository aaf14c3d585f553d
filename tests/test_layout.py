"""The layout is the architecture: the shared core imports no service, the chain stand-in
imports no service, services import no tooling, and a service imports another only through
its generated gRPC API (never its internals)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("coordinator", "compiler", "executor", "keystore", "indexer", "edge")


def imports_of(package: str) -> dict[str, set[str]]:
    """Each module file of ``package`` and the top-level modules it imports (absolute)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "v1" in path.relative_to(ROOT).parts:
            continue  # generated code
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("outlayer", ("services", "cli", "devstack", "devtools", "localnet")),
        ("localnet", ("services", "cli", "devstack")),
        ("services", ("cli", "devstack", "devtools", "localnet")),
    ],
)
def test_a_layer_imports_nothing_above_it(package: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(package, forbidden) == []


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service_s_internals(service: str) -> None:
    others = tuple(f"services.{name}" for name in SERVICES if name != service)
    assert offenders(f"services/{service}", others) == []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_assembles_itself(service: str) -> None:
    app = ROOT / "services" / service / "app.py"
    tree = ast.parse(app.read_text())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "serve" in functions, f"{app} defines no serve()"
    # The command line only starts it (cli/services.py runs services.<name>.app.serve): no
    # service's command assembles servers itself.
    command = (ROOT / "cli" / f"{service}_cmd.py").read_text()
    assert f'commands, "{service}",' in command
    assert "build_server" not in command and "create_server" not in command


def test_the_checker_sees_a_forbidden_import() -> None:
    assert "services/coordinator/app.py imports services.coordinator.admin" in offenders(
        "services/coordinator", ("services.coordinator.admin",)
    )
