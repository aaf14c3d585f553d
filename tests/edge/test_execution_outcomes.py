"""GET /executions rows say how each call ended (status, error type, resources) and where its
charge stands on chain; status=success|failed filters by how the run ended, in the database
(so pages stay full and in order)."""

from __future__ import annotations

from pathlib import Path

from outlayer.wasmstore import WasmStore
from tests.conftest import wat_guest
from tests.edge.conftest import Stack


def test_rows_carry_the_outcome_and_filter_by_it(stack: Stack, tmp_path: Path) -> None:
    trap = WasmStore(tmp_path / "wasm").put(wat_guest("deep_recursion"))  # the stack's store
    stack.admin("/projects", {"owner": "dev.near", "name": "trap", "wasm_sha256": trap})
    _, alice = stack.key("alice.near")
    paid = {"X-Payment-Key": alice}
    good = stack.call(alice, {"input": "fine"}).json()["call_id"]
    bad = stack.call(alice, {"input": ""}, project="trap").json()["call_id"]

    def rows(**params: str) -> list[dict[str, object]]:
        answer = stack.http.get("/executions", params=params, headers=paid)
        assert answer.status_code == 200, answer.text
        return answer.json().get("executions", [])  # type: ignore[no-any-return]

    listed = {r["call_id"]: r for r in rows()}
    assert listed[good]["result_status"] == "success" and "error_type" not in listed[good]
    assert listed[bad]["result_status"] == "failed"
    assert listed[bad]["error_type"] == "runtime_error"
    used = listed[good]["resources_used"]
    assert isinstance(used, dict) and int(used["instructions"]) > 0
    # An operator's key is charged here: nothing to settle on chain, no transaction.
    assert {r["settlement"] for r in listed.values()} == {"off_chain"}
    assert all("settlement_tx_hash" not in r and "job_id" not in r for r in listed.values())

    assert [r["call_id"] for r in rows(status="success")] == [good]
    assert [r["call_id"] for r in rows(status="failed")] == [bad]
    assert [r["call_id"] for r in rows(status="failed", limit="1")] == [bad]
    assert rows(status="pending") == []
    read = stack.http.get(f"/calls/{good}", headers=paid).json()
    assert read["settlement"] == "off_chain" and read["settlement_tx_hash"] == ""
    refused = stack.http.get("/executions", params={"status": "lost"}, headers=paid)
    assert refused.status_code == 400 and "success or failed" in refused.json()["message"]
