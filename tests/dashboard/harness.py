"""The dashboard's browser tests and bench share this: a dev stack (``outlayer dev``) on free
ports in its own folder, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

from devstack.stack import DASHBOARD_DIR
from devtools.ports import free_port

CHROMIUM = "/usr/bin/chromium"
# As root, on a closed network: no sandbox, and none of Chromium's own connections out.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_S = 300


@dataclass
class RunningStack:
    dir: Path
    edge_url: str
    rpc_url: str
    log: Path

    @property
    def dashboard(self) -> str:
        return f"{self.edge_url}/dashboard/?rpc={self.rpc_url}"

    def key_file(self, account: str) -> Path:
        return self.dir / "keys" / f"{account}.json"


@contextmanager
def dev_stack(folder: Path, env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """``outlayer dev`` on free ports in ``folder``, until it prints ready; stopped after.
    ``env``: more environment for the stack's services (say, SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG)."""
    if not (DASHBOARD_DIR / "index.html").is_file():
        raise RuntimeError(f"no dashboard in {DASHBOARD_DIR}: run scripts/setup.sh (it builds it)")
    names = ["localnet", "edge", "coordinator", "executor", "keystore", "compiler", "crates"]
    ports = {name: free_port() for name in names}
    args = [arg for name in names for arg in (f"--{name}-port", str(ports[name]))]
    log = folder / "dev.log"
    command = [sys.executable, "-m", "cli.main", "dev", "--dir", str(folder / "dev"), *args]
    with log.open("w") as out:
        stack = subprocess.Popen(command, stderr=out, stdout=out, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + STARTUP_S
        while "outlayer dev: ready" not in log.read_text():
            if stack.poll() is not None:
                raise RuntimeError(f"outlayer dev exited: {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                tail = log.read_text()[-3000:]
                raise RuntimeError(f"outlayer dev not ready in {STARTUP_S} s: {tail}")
            time.sleep(0.2)
        yield RunningStack(
            folder / "dev",
            f"https://127.0.0.1:{ports['edge']}",
            f"http://127.0.0.1:{ports['localnet']}",
            log,
        )
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
            stack.wait()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Browser, width: int = 1280, height: int = 900) -> BrowserContext:
    """A fresh profile; the dev stack's edge certificate is from its own development CA."""
    return browser.new_context(
        ignore_https_errors=True, viewport={"width": width, "height": height}
    )
