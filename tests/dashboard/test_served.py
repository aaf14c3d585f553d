"""The edge serves the dashboard's built files at /dashboard/ only when edge.dashboard_dir is
set, and its API routes stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from outlayer.config import EdgeSettings
from services.edge.server import Edge, create_app


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>OutLayer dashboard</title>")
    (tmp_path / "assets" / "app.js").write_text("console.log('dashboard')")
    return tmp_path


def test_the_built_files_are_served_at_dashboard(built: Path) -> None:
    client = TestClient(
        create_app(Edge("127.0.0.1:1", None, EdgeSettings(dashboard_dir=str(built))))
    )
    moved = client.get("/dashboard", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "OutLayer dashboard" in page.text
    script = client.get("/dashboard/assets/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    missing = client.get("/dashboard/assets/nope.js")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert client.get("/healthz").json() == {"status": "ok"}  # the API as before


def test_without_the_setting_nothing_is_served(built: Path) -> None:
    client = TestClient(create_app(Edge("127.0.0.1:1", None, EdgeSettings())))
    answer = client.get("/dashboard/")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
