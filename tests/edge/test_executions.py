"""GET /executions: a key sees its own calls and the calls to its owner's projects, newest
first, in pages; never someone else's; filters by project, sender and status."""

from __future__ import annotations

from typing import Any

from tests.edge.conftest import ADMIN, Stack


def listed(stack: Stack, headers: dict[str, str], **params: Any) -> Any:
    response = stack.http.get("/executions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_key_sees_its_calls_and_its_owner_s_projects(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    _, bob = stack.key("bob.near")
    _, owner = stack.key("dev.near")  # the project's owner
    mine = [stack.call(alice, {"input": f"a{n}"}).json()["call_id"] for n in range(3)]
    theirs = stack.call(bob, {"input": "b"}).json()["call_id"]

    seen = listed(stack, {"X-Payment-Key": alice})["executions"]
    assert [e["call_id"] for e in seen] == mine[::-1]  # newest first, bob's call not among them
    assert all(e["sender"] == "alice.near" and e["status"] == "done" for e in seen)
    assert all(int(e["charged"]) > 0 and "input" not in e for e in seen)

    everything = listed(stack, {"X-Payment-Key": owner})["executions"]
    assert {e["call_id"] for e in everything} == {*mine, theirs}
    only_bob = listed(stack, {"X-Payment-Key": owner}, sender="bob.near")["executions"]
    assert [e["call_id"] for e in only_bob] == [theirs]
    # An answer's own fields are there at their zero values: [] and "" (no next page).
    assert listed(stack, {"X-Payment-Key": owner}, status="pending")["executions"] == []
    assert listed(stack, {"X-Payment-Key": owner}, owner="dev.near", project="other") == {
        "executions": [],
        "next_cursor": "",
    }
    assert len(listed(stack, ADMIN)["executions"]) == 4  # the operator sees all


def test_pages_follow_the_cursor_without_repeats_or_gaps(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    made = [stack.call(alice, {"input": str(n)}).json()["call_id"] for n in range(5)]
    pages, cursor = [], ""
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = listed(stack, {"X-Payment-Key": alice}, **params)
        pages.append([e["call_id"] for e in page.get("executions", [])])
        cursor = page.get("next_cursor", "")
        if not cursor:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [c for p in pages for c in p] == made[::-1]


def test_bad_listing_requests_are_refused_clearly(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    anonymous = stack.http.get("/executions")
    assert anonymous.status_code == 401 and "X-Payment-Key" in anonymous.json()["message"]
    paid = {"X-Payment-Key": alice}
    for params, needle in (
        ({"status": "lost"}, "pending or done"),
        ({"project": "echo"}, "project needs owner"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"colour": "red"}, "unknown query parameter"),
    ):
        refused = stack.http.get("/executions", params=params, headers=paid)
        assert refused.status_code == 400, (params, refused.text)
        assert needle in refused.json()["message"]
