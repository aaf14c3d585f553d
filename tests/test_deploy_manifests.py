"""The container deployment in deploy/: the Compose file (one machine) and the Kubernetes
manifests (many) name commands the CLI has, probe every service on the port it listens on (the
gRPC health service over mTLS through the image's outlayer-healthcheck; the edge on HTTPS
/healthz), and set only configuration that outlayer/config.py defines. The probe itself is run
against a real mTLS gRPC server."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cli.main import build_parser
from outlayer.config import Settings, TlsSettings, load_settings
from outlayer.grpcserver import create_server
from outlayer.tls import ensure_dev_pki, identity_for

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"
IMAGES = DEPLOY / "images"
GRPC_SERVICES = ("coordinator", "executor", "indexer", "compiler", "keystore")
PLATFORM = (*GRPC_SERVICES, "edge")
PROBE = "outlayer-healthcheck"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in load_yaml_documents(K8S / name)]


def setting_exists(env_name: str) -> bool:
    """Whether OUTLAYER_A__B__C names a field of Settings (nested models by ``__``)."""
    if env_name == "OUTLAYER_CONFIG":
        return True
    parts = env_name.removeprefix("OUTLAYER_").lower().split("__")
    model: type[BaseModel] = Settings
    for index, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if index < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def listen_port(config: dict[str, Any], service: str) -> int:
    return int(config[service]["listen"].rsplit(":", 1)[1])


def probe_args(command: list[str]) -> dict[str, str]:
    """``outlayer-healthcheck --service X --port N [--http]`` as {"service": X, "port": N, ...}."""
    assert command[0] == PROBE, command
    args: dict[str, str] = {}
    rest = command[1:]
    while rest:
        flag = rest.pop(0).removeprefix("--")
        args[flag] = rest.pop(0) if rest and not rest[0].startswith("--") else "true"
    return args


def serve_command_exists(command: str) -> None:
    """``outlayer <command> serve`` parses (argparse exits 0 on --help)."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "serve", "--help"])
    assert exited.value.code == 0


# --- the Compose file ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    return tomllib.loads((COMPOSE.parent / "outlayer.toml").read_text())


def test_the_compose_file_runs_the_scale_out_set(compose: dict[str, Any]) -> None:
    commands: dict[str, int] = {}
    for service in compose["services"].values():
        command = service.get("command") or []
        if command and command[-1] == "serve":
            commands[command[0]] = commands.get(command[0], 0) + 1
    assert commands == {"coordinator": 2, "executor": 3, "indexer": 2, "edge": 2,
                        "keystore": 1, "compiler": 1}  # fmt: skip
    assert "postgres" in compose["services"]


def test_compose_services_are_probed_on_the_port_they_listen_on(
    compose: dict[str, Any], compose_config: dict[str, Any]
) -> None:
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if not command or command[-1] != "serve":
            continue
        kind = command[0]
        serve_command_exists(kind)
        assert service["image"].startswith("${OUTLAYER_IMAGE:-outlayer:"), name
        probe = probe_args(service["healthcheck"]["test"][1:])
        assert probe["service"] == kind, name
        assert int(probe["port"]) == listen_port(compose_config, kind), name
        assert (probe.get("http") == "true") == (kind == "edge"), name
        assert service["restart"] == "on-failure", name


def test_each_compose_edge_and_executor_points_at_a_coordinator(compose: dict[str, Any]) -> None:
    services = compose["services"]
    coordinators = {
        n for n, s in services.items() if (s.get("command") or [""])[0] == "coordinator"
    }
    edges = [s for s in services.values() if (s.get("command") or [""])[0] == "edge"]
    targets = {s["environment"]["OUTLAYER_EDGE__COORDINATOR"].split(":")[0] for s in edges}
    assert targets == coordinators  # each edge on a different coordinator
    tokens = [s["environment"]["OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE"] for s in services.values()
              if (s.get("command") or [""])[0] == "executor"]  # fmt: skip
    assert len(set(tokens)) == len(tokens) == 3  # a worker token of its own each


def test_compose_settings_exist(compose: dict[str, Any], compose_config: dict[str, Any]) -> None:
    names = set(re.findall(r"\bOUTLAYER_[A-Z0-9_]+", COMPOSE.read_text()))
    names -= {"OUTLAYER_IMAGE", "OUTLAYER_POSTGRES_IMAGE"}  # Compose's own variables
    unknown = sorted(n for n in names if not setting_exists(n))
    assert not unknown, f"not settings of outlayer/config.py: {unknown}"
    Settings.model_validate(compose_config)  # the file is a valid configuration


# --- the Kubernetes manifests ----------------------------------------------------------------
@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    return k8s_documents()


@pytest.fixture(scope="module")
def k8s_config(k8s: list[dict[str, Any]]) -> dict[str, Any]:
    (config,) = [d for d in k8s if d["kind"] == "ConfigMap" and d["metadata"]["name"] ==
                 "outlayer-config"]  # fmt: skip
    return tomllib.loads(config["data"]["outlayer.toml"])


def workloads(k8s: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in k8s:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def test_every_manifest_is_namespaced_and_selects_its_pods(k8s: list[dict[str, Any]]) -> None:
    for doc in k8s:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "outlayer", doc["metadata"]["name"]
        if doc["kind"] in ("Deployment", "StatefulSet"):
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_workloads_run_cli_commands_with_probes_on_their_port(
    k8s: list[dict[str, Any]], k8s_config: dict[str, Any]
) -> None:
    seen = set()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert [i["name"] for i in kustomization["images"]] == ["outlayer"]
    for doc, container in workloads(k8s):
        if container["image"] != "outlayer":
            continue  # PostgreSQL
        kind, action = container["args"]
        assert action == "serve"
        serve_command_exists(kind)
        seen.add(kind)
        port = listen_port(k8s_config, kind)
        assert [p["containerPort"] for p in container["ports"]] == [port], kind
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container[probe_name]
            if kind == "edge":
                assert probe["httpGet"] == {"scheme": "HTTPS", "path": "/healthz", "port": port}
            else:
                args = probe_args(probe["exec"]["command"])
                assert args == {"service": kind, "port": str(port)}, (kind, probe_name)
        # The workload's own certificate and the CA, nobody else's key.
        (pki,) = [v for v in doc["spec"]["template"]["spec"]["volumes"] if v["name"] == "pki"]
        assert {i["path"] for i in pki["secret"]["items"]} == {"ca.pem", f"{kind}.pem",
                                                                f"{kind}.key"}  # fmt: skip
    assert seen == set(PLATFORM)


def test_k8s_services_target_the_ports_containers_serve(k8s: list[dict[str, Any]]) -> None:
    served = {}
    for doc, container in workloads(k8s):
        name = doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        served[name] = {p["containerPort"] for p in container["ports"]}
    for doc in k8s:
        if doc["kind"] == "Service":
            name = doc["spec"]["selector"]["app.kubernetes.io/name"]
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in served[name], (doc["metadata"]["name"], port)


def test_k8s_replicas_are_the_scale_out_set(k8s: list[dict[str, Any]]) -> None:
    replicas = {doc["metadata"]["name"]: doc["spec"]["replicas"] for doc in k8s
                if doc["kind"] in ("Deployment", "StatefulSet")}  # fmt: skip
    assert replicas["coordinator"] >= 2 and replicas["edge"] >= 2
    assert replicas["indexer"] == 2  # a leader and a standby
    assert replicas["executor"] >= 3
    executor = next(d for d in k8s if d["metadata"]["name"] == "executor"
                    and d["kind"] == "StatefulSet")  # fmt: skip
    env = {e["name"]: e for e in executor["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE"]["value"].endswith("$(POD_NAME).token")


def test_k8s_settings_exist(k8s: list[dict[str, Any]], k8s_config: dict[str, Any]) -> None:
    envs = [env for _doc, container in workloads(k8s) for env in container.get("env", [])]
    names = {env["name"] for env in envs if env["name"].startswith("OUTLAYER_")}
    unknown = sorted(n for n in names if not setting_exists(n))
    assert not unknown, f"not settings of outlayer/config.py: {unknown}"
    Settings.model_validate(k8s_config)


def test_setting_names_are_checked_for_real() -> None:
    assert setting_exists("OUTLAYER_INDEXER__LEADER_RETRY_SECONDS")
    assert setting_exists("OUTLAYER_DATABASE_URL")
    assert not setting_exists("OUTLAYER_INDEXER__NO_SUCH_THING")
    assert not setting_exists("OUTLAYER_DATABASE_URL__PART")


# --- the images ------------------------------------------------------------------------------
def test_the_image_runs_the_cli_and_carries_the_probe() -> None:
    dockerfile = (IMAGES / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "outlayer"]' in dockerfile
    assert f"COPY healthcheck.py /usr/local/bin/{PROBE}" in dockerfile
    assert "--no-index" in dockerfile  # built from local wheels: nothing fetched
    done = subprocess.run(["bash", "-n", str(IMAGES / "build.sh")], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def run_probe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run([sys.executable, str(IMAGES / "healthcheck.py"), *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_the_probe_checks_a_real_mtls_health_service(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ensure_dev_pki(pki)
    identity = identity_for(TlsSettings(dir=pki), "coordinator")
    assert identity is not None
    server, port = create_server("127.0.0.1:0", [], 2, identity.server_credentials())
    server.start()
    env = {"OUTLAYER_TLS__DIR": str(pki), "OUTLAYER_CONFIG": ""}
    try:
        serving = run_probe(["--service", "coordinator", "--port", str(port)], env)
        assert serving.returncode == 0, serving.stderr
        assert serving.stdout.strip() == "coordinator: SERVING"
        # Another CA's certificate is refused by the server: not healthy.
        other = tmp_path / "other"
        ensure_dev_pki(other)
        refused = run_probe(["--service", "coordinator", "--port", str(port)],
                            {**env, "OUTLAYER_TLS__DIR": str(other)})  # fmt: skip
        assert refused.returncode == 1
    finally:
        server.stop(grace=None)
    gone = run_probe(["--service", "coordinator", "--port", str(port), "--timeout", "2"], env)
    assert gone.returncode == 1 and "coordinator at 127.0.0.1" in gone.stderr


def test_settings_load_from_the_compose_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTLAYER_CONFIG", str(COMPOSE.parent / "outlayer.toml"))
    settings = load_settings()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.indexer.operator_key_file == Path("/run/secrets/operator_key")
