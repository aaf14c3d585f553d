"""localnet's JSON-RPC answers a browser as NEAR's RPC nodes do: CORS on every answer and on the
preflight, so the dashboard (another origin) can read the chain and send signed transactions."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.localnet_server import running_localnet

ORIGIN = "https://dashboard.example.org"  # any other origin than the node's


def test_preflight_and_answers_allow_any_origin(tmp_path: Path) -> None:
    with running_localnet(tmp_path) as (url, _):
        preflight = httpx.options(
            url,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
        answer = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "status", "params": []},
            headers={"Origin": ORIGIN},
        )
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.json()["result"]["chain_id"]
        refused = httpx.post(url, content=b"{not json", headers={"Origin": ORIGIN})
        assert refused.headers["access-control-allow-origin"] == "*"  # errors are readable too
        assert refused.json()["error"]["cause"]["name"] == "PARSE_ERROR"
