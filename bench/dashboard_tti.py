"""Time to interactive of each dashboard page on localnet, in Debian's headless Chromium.

A dev stack (``outlayer dev``, its own folder and free ports) with the data a user has after
a few steps (alice signed in with the development wallet, a payment key of hers kept in the
browser, one HTTPS call made); then each page is loaded from scratch (a full document load,
the browser's cache warm, as on a second visit) until it is interactive: its view is mounted
and every read it starts (NEAR JSON-RPC views, the edge's public reads) has answered, so no
"loading…" is left. The first load of all, with an empty cache, is reported apart.

    python -m bench.dashboard_tti [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.dashboard.harness import chromium, dev_stack, new_context

PAGES = ["", "playground", "projects", "secrets", "keys", "earnings", "executions", "attestation",
         "status"]  # fmt: skip


def interactive(page: Page, url: str, path: str) -> float:
    """Seconds from asking for the page to its being interactive."""
    page.goto("about:blank")
    began = time.perf_counter()
    page.goto(f"{url}#/{path}")
    expect(page.locator("main")).to_have_attribute("data-page", path or "overview")
    expect(page.get_by_text("loading…")).to_have_count(0, timeout=30_000)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="outlayer-bench-dashboard-") as folder,
        dev_stack(Path(folder)) as stack,
        chromium() as browser,
    ):
        # A call for the Executions page to list (dev.localnet/echo-json-c: C, built in seconds).
        secret = (stack.dir / "payment.key").read_text().strip()
        ca = str(stack.dir / "pki" / "ca.pem")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            body = httpx.post(
                f"{stack.edge_url}/call/dev.localnet/echo-json-c",
                json={"input": "bench", "wait_seconds": 60},
                headers={"X-Payment-Key": secret},
                verify=ca,
                timeout=90,
            ).json()
            if (body.get("result") or {}).get("status") == "success":
                break
            time.sleep(2)
        page = new_context(browser).new_page()
        page.goto(stack.dashboard)
        kept = json.dumps({"1": secret})  # alice's key 1, kept as the Payment keys page does
        page.evaluate("kept => localStorage.setItem('outlayer.keys.alice.localnet', kept)", kept)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.set_input_files("#keyfile", str(stack.key_file("alice.localnet")))
        expect(page.locator(".account")).to_contain_text("alice.localnet")
        cold = new_context(browser).new_page()
        first = interactive(cold, stack.dashboard, "")
        print(f"first load, empty cache, signed out (overview): {first * 1000:.0f} ms")
        loads = f"(signed in, warm cache, {args.repeat} loads)"
        print(f"{'page':<12} {'p50 ms':>7} {'max ms':>7}   {loads}")
        for path in PAGES:
            samples = [interactive(page, stack.dashboard, path) for _ in range(args.repeat)]
            p50 = statistics.median(samples) * 1000
            print(f"{path or 'overview':<12} {p50:>7.0f} {max(samples) * 1000:>7.0f}")


if __name__ == "__main__":
    main()
