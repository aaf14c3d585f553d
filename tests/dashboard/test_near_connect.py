"""Signing in with a real wallet through NEAR Connect (@hot-labs/near-connect, the dashboard's own
copy), in Debian's Chromium, against a real dev stack. The wallet is tests/dashboard/
near_connect_wallet/: a NEAR Connect wallet (a manifest and its executor script, run by NEAR
Connect in its sandboxed iframe) served here, on this machine, as an operator would self-host one.
The user picks it in NEAR Connect's own wallet list, gives it alice's key in the wallet's own UI,
and approves (or rejects) each transaction there; the wallet signs and sends to localnet over the
RPC NEAR Connect hands it. The dashboard never sees the key."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, Page, expect

from devtools.ports import free_port
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from tests.dashboard.harness import RunningStack, chromium, dev_stack, new_context

ALICE = "alice.localnet"
WALLET_DIR = Path(__file__).parent / "near_connect_wallet"
WALLET_NAME = "OutLayer test wallet"
WALLET_ID = "outlayer-test-wallet"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with dev_stack(tmp_path_factory.mktemp("near-connect")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def wallet_url() -> Iterator[str]:
    """The test wallet's folder over HTTP on a free port, with CORS (NEAR Connect fetches the
    manifest and the executor from the dashboard's page). ``{base}`` in manifest.json becomes
    this server's URL: NEAR Connect needs the executor's absolute URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            file = WALLET_DIR / name
            if name not in {"manifest.json", "executor.js"} or not file.is_file():
                self.answer(404, "text/plain", b"not found")
                return
            body = file.read_text()
            if name == "manifest.json":
                body = body.replace("{base}", base)
            kind = "application/json" if name.endswith(".json") else "text/javascript"
            self.answer(200, kind, body.encode())

        def answer(self, status: int, kind: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def access_key_nonce(stack: RunningStack, account: str) -> int:
    key = json.loads(stack.key_file(account).read_text())
    found = NearRpc(stack.rpc_url).call(
        "query",
        {
            "request_type": "view_access_key",
            "finality": "final",
            "account_id": account,
            "public_key": key["public_key"],
        },
    )
    return int(found["nonce"])


def payment_key(stack: RunningStack, nonce: int) -> Any:
    rpc = NearRpc(stack.rpc_url)
    return rpc.view("outlayer.localnet", "get_payment_key", {"owner": ALICE, "nonce": nonce})


def the_wallet(page: Page) -> FrameLocator:
    """The wallet's own UI: its sandboxed iframe in NEAR Connect's popup, while shown."""
    return page.frame_locator(".hot-connector-popup iframe:visible")


# NEAR Connect shows a wallet's popup 50 px low and slides it up 0.1 s later (a timer, then a
# 0.2 s transition). On a loaded machine the timer fires late, the popup rests low, a click is
# aimed there and lands 50 px under the button once it moves: the request waits for ever. A
# click in the wallet waits until its popup has rested in place for 0.3 s.
POPUP_IN_PLACE = """() => {
    const shown = [...document.querySelectorAll('.hot-connector-popup')]
        .filter((popup) => popup.style.display !== 'none');
    const popup = shown[shown.length - 1];
    const content = popup?.querySelector('.modal-content');
    const container = popup?.querySelector('.modal-container');
    const transform = content && getComputedStyle(content).transform;
    const inPlace = (transform === 'none' || transform === 'matrix(1, 0, 0, 1, 0, 0)')
        && getComputedStyle(container).opacity === '1'
        && popup.getAnimations({ subtree: true }).length === 0;
    if (!inPlace) {
        window.outlayerPopupAtRestSince = undefined;
        return false;
    }
    window.outlayerPopupAtRestSince ??= performance.now();
    return performance.now() - window.outlayerPopupAtRestSince >= 300;
}"""


def popup_in_place(page: Page) -> None:
    page.evaluate("() => { window.outlayerPopupAtRestSince = undefined; }")  # this wait's own
    page.wait_for_function(POPUP_IN_PLACE, polling=50, timeout=30_000)


def click_in_wallet(page: Page, button: str) -> None:
    """Clicks the wallet's button once its popup is in place (see POPUP_IN_PLACE)."""
    target = the_wallet(page).get_by_role("button", name=button)
    expect(target).to_be_visible(timeout=30_000)
    popup_in_place(page)
    target.click()


def connect(page: Page) -> None:
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Connect a wallet").click()


def signin_alert(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Sign in").get_by_role("alert")


def wallet_storage(page: Page) -> list[str]:
    keys: list[str] = page.evaluate("() => Object.keys(localStorage)")
    return [k for k in keys if k.startswith(f"{WALLET_ID}:") or k == "outlayer.connector"]


@pytest.mark.timeout(900)
def test_a_near_connect_wallet_signs_in_and_signs_on_localnet(
    stack: RunningStack, browser: Browser, wallet_url: str
) -> None:
    context = new_context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The page's and the wallet's console, shown by pytest when a step fails.
    page.on("console", lambda message: print(f"console {message.type}: {message.text}"))
    page.goto(f"{stack.dashboard}&manifest={wallet_url}/manifest.json")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    signed_in_through_near_connect(page, stack)
    payment_key_signed_by_the_wallet(page, stack)
    signed_out(page)
    assert errors == []


def signed_in_through_near_connect(page: Page, stack: RunningStack) -> None:
    """NEAR Connect's own wallet list, from the manifest; closing it signs nobody in. Picked, the
    wallet asks for its key in its own UI; a key that is not alice's is refused there."""
    connect(page)
    listed = page.locator(".hot-connector-popup .connect-item", has_text=WALLET_NAME)
    expect(listed).to_be_visible()
    popup_in_place(page)
    page.locator(".hot-connector-popup .modal-container").click(position={"x": 5, "y": 5})
    expect(signin_alert(page)).to_contain_text("no wallet chosen")

    page.get_by_role("button", name="Connect a wallet").click()
    expect(listed).to_be_visible()
    popup_in_place(page)
    listed.click()
    wallet = the_wallet(page)
    wrong = Signer(ALICE, nacl.signing.SigningKey.generate()).to_json()
    wallet.get_by_label("Key file (near-cli JSON)").fill(json.dumps(wrong))
    click_in_wallet(page, "Connect")
    expect(wallet.get_by_role("alert")).to_contain_text("has no access key")
    wallet.get_by_label("Key file (near-cli JSON)").fill(stack.key_file(ALICE).read_text())
    click_in_wallet(page, "Connect")
    expect(page.locator(".account")).to_contain_text(f"{ALICE} (wallet)", timeout=30_000)
    assert page.evaluate("() => sessionStorage.getItem('outlayer.devwallet')") is None


def payment_key_signed_by_the_wallet(page: Page, stack: RunningStack) -> None:
    """create_payment_key from the dashboard: shown by the wallet; rejected or closed, nothing is
    sent; approved, signed by the wallet with alice's key and final on localnet. Each request
    after a completed one is shown and answered as the first was."""
    nonce_before = access_key_nonce(stack, ALICE)
    assert payment_key(stack, 2) is None  # the stack made alice's key 1
    page.goto(f"{stack.dashboard}#/keys")  # a reload: the wallet is asked again, still alice
    expect(page.locator(".account")).to_contain_text(f"{ALICE} (wallet)", timeout=30_000)
    wallet = the_wallet(page)
    create = page.get_by_role("button", name=re.compile("Create key"))
    create.click()
    expect(wallet.get_by_test_id("signer")).to_have_text(ALICE, timeout=30_000)
    expect(wallet.get_by_role("list", name="what you sign")).to_contain_text(
        "to outlayer.localnet: call create_payment_key"
    )
    click_in_wallet(page, "Reject")
    expect(page.get_by_role("alert")).to_contain_text(
        "the wallet did not sign: User rejected the transaction"
    )
    assert payment_key(stack, 2) is None
    assert access_key_nonce(stack, ALICE) == nonce_before

    create.click()
    expect(wallet.get_by_role("button", name="Approve")).to_be_visible(timeout=30_000)
    no_stale_popup(page)
    click_in_wallet(page, "Approve")
    created = page.get_by_text(re.compile(r"created payment key \d+"))
    # As long as the dashboard waits for the transaction to be final (120 s) on a busy machine.
    try:
        expect(created).to_be_visible(timeout=120_000)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{where_it_stuck(page, stack, nonce_before)}") from None
    assert "created payment key 2" in created.inner_text()
    on_chain = payment_key(stack, 2)
    assert on_chain["token_id"] == "usdc.localnet" and on_chain["balance"] == "0"
    assert access_key_nonce(stack, ALICE) == nonce_before + 1

    create.click()
    expect(wallet.get_by_role("button", name="Approve")).to_be_visible(timeout=30_000)
    no_stale_popup(page)
    popup_in_place(page)
    page.locator(".hot-connector-popup .modal-container:visible").click(position={"x": 5, "y": 5})
    expect(page.get_by_role("alert")).to_contain_text("the wallet was closed before it signed")
    assert payment_key(stack, 3) is None
    assert access_key_nonce(stack, ALICE) == nonce_before + 1


def where_it_stuck(page: Page, stack: RunningStack, nonce_before: int) -> str:
    """What each party shows when an approved request has not completed: the wallet's screen,
    the dashboard's status, the chain (still producing blocks? the nonce used?), the stack's
    log. Printed with the failure: this request has failed in full runs only."""
    rpc = NearRpc(stack.rpc_url)
    heights = []
    for _ in range(2):
        heights.append(rpc.call("status", {})["sync_info"]["latest_block_height"])
        time.sleep(1.5)
    try:
        wallet_text = the_wallet(page).locator("body").inner_text(timeout=2_000)
    except Exception as error:  # a diagnosis: whatever became of the wallet frame
        wallet_text = f"(no wallet frame: {error})"
    frames = page.locator(".hot-connector-popup iframe").count()
    dashboard = page.locator("main").inner_text(timeout=2_000)[-600:]
    log_tail = "\n".join(stack.log.read_text().splitlines()[-40:])
    return (
        f"wallet frames in the page: {frames}; the wallet shows: {wallet_text!r}\n"
        f"the dashboard shows: ...{dashboard!r}\n"
        f"localnet head: {heights[0]} then {heights[1]} 1.5 s later; alice's nonce "
        f"{access_key_nonce(stack, ALICE)} (was {nonce_before}); key 2: {payment_key(stack, 2)}\n"
        f"the stack's log, last 40 lines:\n{log_tail}"
    )


def no_stale_popup(page: Page) -> None:
    """A request's wallet popup (and its iframe) is gone once it is answered: the request
    shown is the only one in the page."""
    expect(page.locator(".hot-connector-popup iframe")).to_have_count(1)


def signed_out(page: Page) -> None:
    """The wallet forgets the account and its key; the dashboard shows signed out, after a
    reload too."""
    assert wallet_storage(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_text("Sign in (top right)")).to_be_visible()
    page.wait_for_function(
        f"""() => !Object.keys(localStorage).some(k => k.startsWith('{WALLET_ID}:')
                                                    || k === 'outlayer.connector')"""
    )
    assert wallet_storage(page) == []
    page.reload()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def test_localnet_offers_wallets_only_from_a_manifest_and_a_bad_one_is_a_clear_error(
    stack: RunningStack, browser: Browser, wallet_url: str
) -> None:
    """No public wallet reaches localnet: without a manifest only the development wallet is
    offered. An operator sets one under Network settings; one that is not served is an error
    that names it, before any wallet list is shown."""
    context = new_context(browser)
    page = context.new_page()
    page.goto(stack.dashboard)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_label("or paste it")).to_be_visible()  # the development wallet
    expect(page.get_by_role("button", name="Connect a wallet")).to_have_count(0)

    def use_manifest(url: str) -> None:
        page.get_by_text("Network settings").click()
        page.get_by_label("Wallet manifest URL").fill(url)
        page.get_by_role("button", name="Use these settings").click()

    use_manifest("wallets please")
    expect(signin_alert(page)).to_contain_text("the wallet manifest is not a URL")
    page.get_by_label("Wallet manifest URL").fill(f"{wallet_url}/missing.json")
    page.get_by_role("button", name="Use these settings").click()
    page.get_by_role("button", name="Connect a wallet").click()
    expect(signin_alert(page)).to_contain_text(
        f"the wallet manifest {wallet_url}/missing.json answered HTTP 404"
    )
    nobody = f"http://127.0.0.1:{free_port()}/manifest.json"
    page.goto(f"{stack.dashboard}&manifest={nobody}")
    connect(page)
    expect(signin_alert(page)).to_contain_text(f"the wallet manifest {nobody} did not load")
    expect(page.locator(".hot-connector-popup")).to_have_count(0)  # no wallet list was shown
