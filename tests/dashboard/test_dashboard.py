"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a real dev
stack: sign in with the development wallet, create a payment key and top it up with the
stablecoin, create a project, run it from the playground over HTTPS (paying its owner) and on
chain, find the call under Executions, store a secret encrypted in the browser and see a call
use it, withdraw the earnings. Every transaction is signed in the browser. Bad inputs show a
clear message and change nothing. Every page is checked for labelled controls, and
screenshotted (into docs/dashboard/ with OUTLAYER_DASHBOARD_SHOTS=docs/dashboard)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.signing
import pytest
from playwright.sync_api import Browser, Page, expect

from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.wasmstore import WasmStore
from tests.conftest import wat_guest
from tests.dashboard.harness import RunningStack, chromium, dev_stack, new_context

USD = 10**6
ALICE = "alice.localnet"
# The C example: built in about a second (the dev stack builds the Rust one in the background,
# which takes minutes on a loaded 2-core machine). It greets with $GREETING: a secret here.
REPO = "https://github.com/outlayer-examples/echo-json-c"
COMPILE_S = 300
PAGES = ["", "playground", "projects", "secrets", "keys", "earnings", "executions", "attestation",
         "status"]  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Hidden logs kept, so that the operator's section has some to show.
    hidden = {"SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG": "true"}
    with dev_stack(tmp_path_factory.mktemp("dashboard"), env=hidden) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OUTLAYER_DASHBOARD_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def ft_balance(stack: RunningStack, account: str) -> int:
    rpc = NearRpc(stack.rpc_url)
    return int(rpc.view("usdc.localnet", "ft_balance_of", {"account_id": account}))


def sign_in(page: Page, stack: RunningStack, account: str) -> None:
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.set_input_files("#keyfile", str(stack.key_file(account)))
    expect(page.locator(".account")).to_contain_text(account)


def unlabelled(page: Page) -> list[str]:
    """Form controls a screen reader could not name."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    return found


def visit(page: Page, stack: RunningStack, path: str) -> None:
    page.goto(f"{stack.dashboard}#/{path}")
    expect(page.locator("main")).to_have_attribute("data-page", path or "overview")
    expect(page.get_by_text("loading…")).to_have_count(0, timeout=30_000)


@pytest.mark.timeout(1500)
def test_a_user_does_everything_in_the_browser(
    stack: RunningStack, browser: Browser, shots: Path
) -> None:
    context = new_context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(stack.dashboard)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # A key file that is not the account's key: refused before anything is signed.
    wrong = Signer(ALICE, nacl.signing.SigningKey.generate()).to_json()
    del wrong["public_key"]
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("or paste it").fill(json.dumps(wrong))
    page.get_by_role("button", name="Sign in with this key").click()
    expect(page.get_by_role("alert")).to_contain_text("has no access key")
    page.get_by_label("or paste it").fill('{"account_id": "Not An Account", "private_key": "x"}')
    page.get_by_role("button", name="Sign in with this key").click()
    expect(page.get_by_role("alert")).to_contain_text("no valid account_id")
    page.get_by_role("button", name="Sign in", exact=True).click()  # closes the popover
    sign_in(page, stack, ALICE)
    nonce = payment_key_made_and_topped_up(page, stack)
    call_id = project_made_and_called(page, stack)
    call_found_under_executions(page, stack, call_id, shots)
    secret_stored_and_used(page, stack)
    request_sent_on_chain(page, shots)
    request_found_under_executions(page, stack, call_id, shots)
    earnings_withdrawn(page, stack)
    every_page_labelled_and_narrow(page, stack, browser, shots, nonce)
    versions_keys_and_secrets_managed(page, stack)
    assert errors == []


def payment_key_made_and_topped_up(page: Page, stack: RunningStack) -> int:
    """Payment keys: created in the browser (the secret never leaves it), topped up with USD."""
    coins_before = ft_balance(stack, ALICE)
    visit(page, stack, "keys")
    create = page.get_by_role("button", name=re.compile("Create key"))
    page.get_by_label("Most one call may cost").fill("lots")
    create.click()
    expect(page.get_by_role("alert")).to_contain_text('"lots" is not an amount')
    page.get_by_label("Most one call may cost").fill("")
    page.get_by_label("Only these projects").fill("dev.localnet/echo, nobody")
    create.click()
    expect(page.get_by_role("alert")).to_contain_text('"nobody" is not OWNER/NAME')
    rpc = NearRpc(stack.rpc_url)
    assert rpc.view("outlayer.localnet", "get_payment_key", {"owner": ALICE, "nonce": 2}) is None
    page.get_by_label("Only these projects").fill("")
    create.click()
    created = page.get_by_text(re.compile(r"created payment key \d+"))
    expect(created).to_be_visible(timeout=30_000)
    nonce = int(re.search(r"payment key (\d+)", created.inner_text()).group(1))  # type: ignore[union-attr]
    assert nonce == 2  # the stack made key 1; the refused forms made none
    secret = page.get_by_test_id("new-secret").inner_text()
    assert secret.startswith("olk_")
    on_chain = rpc.view("outlayer.localnet", "get_payment_key", {"owner": ALICE, "nonce": nonce})
    assert on_chain["token_id"] == "usdc.localnet" and on_chain["balance"] == "0"
    topup = page.locator(f"#topup-{nonce}")
    topup.fill("not money")
    page.locator(f"[data-nonce='{nonce}']").get_by_role("button", name="Top up").click()
    expect(page.locator(f"[data-nonce='{nonce}']").get_by_role("alert")).to_contain_text(
        "is not an amount"
    )
    assert ft_balance(stack, ALICE) == coins_before  # nothing moved
    topup.fill("5.0")
    page.locator(f"[data-nonce='{nonce}']").get_by_role("button", name="Top up").click()
    expect(page.get_by_test_id(f"key-{nonce}-balance")).to_have_text("5 TUSD", timeout=30_000)
    assert ft_balance(stack, ALICE) == coins_before - 5 * USD
    return nonce


def project_made_and_called(page: Page, stack: RunningStack) -> str:
    """A project of alice's own, made on chain from the browser, run from the playground."""
    rpc = NearRpc(stack.rpc_url)
    visit(page, stack, "projects")
    page.get_by_label("Name").fill("Bad Name!")
    page.get_by_role("button", name=re.compile("Create \\(signs")).click()
    expect(page.get_by_role("alert")).to_contain_text("a name is 1 to 64")
    page.get_by_label("Name").fill("hello")
    page.get_by_label("Repository").fill(REPO)
    page.get_by_role("button", name=re.compile("Create \\(signs")).click()
    expect(page.get_by_text("created alice.localnet/hello")).to_be_visible(timeout=30_000)
    assert rpc.view("outlayer.localnet", "get_project", {"project_id": f"{ALICE}/hello"})

    # The playground: an estimate, then an HTTPS call that pays the owner 0.25 USD.
    visit(page, stack, "playground")
    page.get_by_label("Project (OWNER/NAME)").fill(f"{ALICE}/hello")
    page.get_by_label("Input (the guest's stdin)").fill('{"from": "the browser"}')
    page.get_by_role("button", name="Estimate the cost").click()
    expect(page.get_by_text(re.compile(r"at most .* TUSD for these limits"))).to_be_visible()
    page.get_by_label("Pay the owner (X-Attached-Deposit, stablecoin units)").fill("0.25")
    page.get_by_role("button", name="Call over HTTPS").click()
    expect(page.get_by_role("alert")).to_contain_text("smallest unit: digits only")
    page.get_by_label("Pay the owner (X-Attached-Deposit, stablecoin units)").fill("250000")
    page.get_by_role("button", name="Call over HTTPS").click()
    expect(page.get_by_text(re.compile(r"^done in"))).to_be_visible(timeout=COMPILE_S * 1000)
    expect(page.get_by_test_id("result-status")).to_have_text("success")
    output = json.loads(page.get_by_test_id("result-output").inner_text())
    assert output["input"] == '{"from": "the browser"}'
    assert output["greeting"] == "hello"  # no secrets named: no GREETING
    return page.get_by_test_id("result-call").inner_text()


def call_found_under_executions(page: Page, stack: RunningStack, call_id: str, shots: Path) -> None:
    """Executions: the call is listed (and filtered) with how it ended, and its page shows what
    it returned, its compile step and where its charge stands."""
    visit(page, stack, "executions")
    expect(page.get_by_role("link", name=call_id)).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=call_id))
    expect(row).to_contain_text("success")
    expect(row).to_contain_text(re.compile(r"[\d,]+ instr\., \d+ ms"))
    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=call_id)).to_have_count(0)
    page.get_by_label("Status").select_option("success")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=call_id).click()
    expect(page.get_by_test_id("execution-status")).to_contain_text("success")
    assert "the browser" in page.get_by_test_id("execution-output").inner_text()
    expect(page.get_by_test_id("execution-compile")).to_contain_text(re.compile("cached|built"))
    expect(page.get_by_test_id("execution-settlement")).not_to_be_empty()


def request_found_under_executions(
    page: Page, stack: RunningStack, call_id: str, shots: Path
) -> None:
    """The request the playground sent on chain is listed under Executions, read from the
    public listing of the signed-in account's requests; its page shows the output the chain
    holds, the compile step and the resolve_execution transaction (which is on chain)."""
    visit(page, stack, "executions")
    link = page.locator("[data-testid^='execution-chain-']")
    expect(link).to_have_count(1)
    expect(page.get_by_role("link", name=call_id)).to_be_visible()  # both kinds, merged
    page.get_by_label("Kind").select_option("chain")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=call_id)).to_have_count(0)
    expect(link).to_have_count(1)
    row = page.get_by_role("row").filter(has=link)
    expect(row).to_contain_text("success")
    expect(row).to_contain_text("NEAR")  # the fee the resolve kept
    link.click()
    expect(page.get_by_test_id("execution-status")).to_have_text("success · resolved on chain")
    settlement = page.get_by_test_id("execution-settlement")
    expect(settlement).to_contain_text("resolve_execution in transaction")
    tx_hash = settlement.locator("code").inner_text()
    raw = NearRpc(stack.rpc_url).tx_status(tx_hash, "worker.localnet", wait_until="FINAL").raw
    assert raw["transaction"]["actions"][0]["FunctionCall"]["method_name"] == "resolve_execution"
    assert json.loads(page.get_by_test_id("execution-output").inner_text())["greeting"] == "hello"
    expect(page.get_by_test_id("execution-compile")).to_contain_text(re.compile("cached|built"))
    expect(page.get_by_text("never go on chain, so they are not public")).to_be_visible()
    page.screenshot(path=shots / "execution.png", full_page=True)


def secret_stored_and_used(page: Page, stack: RunningStack) -> None:
    """Secrets: a malformed condition and a too-large secret are refused in the browser; then
    one is encrypted here (after the keystore's attestation is checked) and stored on chain,
    and a call that names them sees them."""
    rpc = NearRpc(stack.rpc_url)
    visit(page, stack, "secrets")
    expect(page.get_by_test_id("verdict")).to_contain_text("development keystore")
    page.get_by_label("Repository").fill(REPO)
    page.get_by_label("Profile").fill("dash")
    page.get_by_label("Name", exact=True).fill("GREETING")
    page.get_by_label("Value").fill("browser-secret")
    page.get_by_label("Who may use them").select_option("Whitelist")
    page.get_by_label("Accounts (comma separated)").fill("alice.localnet, NOT valid")
    page.get_by_role("button", name=re.compile("Encrypt and store")).click()
    expect(page.get_by_role("alert")).to_contain_text('"NOT" is not a NEAR account id')
    page.get_by_label("Accounts (comma separated)").fill(ALICE)
    page.get_by_label("Value").fill("x" * 70_000)
    page.get_by_role("button", name=re.compile("Encrypt and store")).click()
    expect(page.get_by_role("alert")).to_contain_text("at most 65536")
    assert rpc.view("outlayer.localnet", "list_user_secrets", {"account_id": ALICE}) == []
    page.get_by_label("Value").fill("browser-secret")
    page.get_by_role("button", name=re.compile("Encrypt and store")).click()
    expect(page.get_by_text(re.compile("stored GREETING as profile dash"))).to_be_visible(
        timeout=30_000
    )
    stored = rpc.view("outlayer.localnet", "get_secrets",
                      {"owner": ALICE, "repo": REPO, "profile": "dash"})  # fmt: skip
    assert stored["access"] == {"Whitelist": {"accounts": [ALICE]}}
    assert "browser-secret" not in json.dumps(stored)
    expect(page.get_by_role("cell", name="dash", exact=True)).to_be_visible()

    # A call that names them gets them: this guest greets with $GREETING.
    visit(page, stack, "playground")
    page.get_by_label("Project (OWNER/NAME)").fill(f"{ALICE}/hello")
    page.get_by_label("Secrets profile (optional)").fill("dash")
    page.get_by_label(re.compile("Whose secrets")).fill(ALICE)
    page.get_by_role("button", name="Call over HTTPS").click()
    expect(page.get_by_text(re.compile(r"^done in"))).to_be_visible(timeout=120_000)
    with_secrets = json.loads(page.get_by_test_id("result-output").inner_text())
    assert with_secrets["greeting"] == "browser-secret"


def request_sent_on_chain(page: Page, shots: Path) -> None:
    """On chain: request_execution signed in the browser, resolved by the platform."""
    page.get_by_label(re.compile("on chain: request_execution")).check()
    page.get_by_label("Secrets profile (optional)").fill("")
    page.get_by_label(re.compile("Whose secrets")).fill("")
    page.get_by_role("button", name="Estimate the cost").click()
    expect(page.get_by_text(re.compile(r"deposit to attach: .* NEAR"))).to_be_visible()
    page.get_by_role("button", name="Sign and send request_execution").click()
    expect(page.get_by_text(re.compile(r"^resolved on chain in"))).to_be_visible(timeout=180_000)
    expect(page.get_by_test_id("result-status")).to_have_text("success")
    page.screenshot(path=shots / "playground.png", full_page=True)


def earnings_withdrawn(page: Page, stack: RunningStack) -> None:
    """Earnings: the deposit was settled on chain by the operator; alice withdraws it."""
    visit(page, stack, "earnings")
    for _ in range(60):
        if "TUSD" in page.get_by_test_id("earnings-on-chain").inner_text():
            break
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Refresh").click()
        expect(page.get_by_text("loading…")).to_have_count(0)
    expect(page.get_by_test_id("earnings-on-chain")).to_contain_text("0.25 TUSD")
    before = ft_balance(stack, ALICE)
    page.get_by_label("Amount (empty: all)").fill("1000")
    page.get_by_role("button", name=re.compile("Withdraw")).click()
    expect(page.get_by_role("alert")).to_contain_text("cannot withdraw")
    assert ft_balance(stack, ALICE) == before
    page.get_by_label("Amount (empty: all)").fill("")
    page.get_by_role("button", name=re.compile("Withdraw")).click()
    expect(page.get_by_text(f"withdrawn to {ALICE}")).to_be_visible(timeout=30_000)
    assert ft_balance(stack, ALICE) == before + 250_000


def every_page_labelled_and_narrow(
    page: Page, stack: RunningStack, browser: Browser, shots: Path, nonce: int
) -> None:
    """Every page, with this data, labelled and screenshotted; then on a phone's width."""
    for path in PAGES:
        visit(page, stack, path)
        if path == "keys":
            expect(page.get_by_test_id(f"key-{nonce}-available")).to_be_visible()
        assert unlabelled(page) == [], path
        if path != "playground":  # its screenshot shows a result, above
            page.screenshot(path=shots / f"{path or 'overview'}.png", full_page=True)
    phone = new_context(browser, 390, 844).new_page()
    phone.goto(f"{stack.dashboard}#/keys")
    sign_in(phone, stack, ALICE)
    expect(phone.get_by_test_id(f"key-{nonce}-available")).to_be_visible()
    expect(phone.locator("#nav")).to_be_hidden()
    phone.get_by_role("button", name="Menu").click()
    expect(phone.get_by_role("link", name="Earnings")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px screen"
    phone.screenshot(path=shots / "narrow.png", full_page=True)


def test_the_keyboard_reaches_everything(stack: RunningStack, browser: Browser) -> None:
    page = new_context(browser).new_page()
    page.goto(stack.dashboard)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.get_by_role("link", name="Status").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.get_by_test_id("health-edge")).to_have_text("ok")
    page.get_by_role("button", name="Sign in", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Key file (near-cli JSON)")).to_be_visible()


def versions_keys_and_secrets_managed(page: Page, stack: RunningStack) -> None:
    """The rest of what an owner does on chain from the browser: a version added and activated,
    a NEAR key topped up and deleted (its NEAR back), the secrets and the project deleted."""
    rpc = NearRpc(stack.rpc_url)
    project = f"{ALICE}/hello"
    visit(page, stack, "projects")
    card = page.get_by_role("article", name=f"project {project}")
    card.get_by_text("Add a version").click()
    card.get_by_label("Code").select_option("commit")
    card.get_by_label("Commit (40 hex)").fill("not-a-commit")
    card.get_by_role("button", name="Add version").click()
    expect(card.get_by_role("alert")).to_contain_text("40 lowercase hex")
    first = rpc.view("outlayer.localnet", "list_versions", {"project_id": project})[0]
    echo = rpc.view("outlayer.localnet", "get_project", {"project_id": "dev.localnet/echo-json-c"})
    card.get_by_label("Commit (40 hex)").fill(echo["active"]["code_source"]["commit"])
    card.get_by_label("make it the active version").uncheck()
    card.get_by_role("button", name="Add version").click()
    expect(card.get_by_text("added version 2; active: 1")).to_be_visible(timeout=30_000)
    expect(card.get_by_role("button", name="Activate")).to_be_visible()
    card.get_by_role("button", name="Activate").click()
    expect(card.get_by_text("active version 2")).to_be_visible(timeout=30_000)
    found = rpc.view("outlayer.localnet", "get_project", {"project_id": project})
    assert found["active_version"] == 2 and first["code_source"]["branch"] == "main"

    visit(page, stack, "keys")
    page.get_by_label("Pays in").select_option("near")
    page.get_by_role("button", name=re.compile("Create key")).click()
    created = page.get_by_text(re.compile(r"created payment key \d+"))
    expect(created).to_be_visible(timeout=30_000)
    nonce = int(re.search(r"payment key (\d+)", created.inner_text()).group(1))  # type: ignore[union-attr]
    key = page.locator(f"[data-nonce='{nonce}']")
    key.get_by_label("Top up (NEAR)").fill("0.5")
    key.get_by_role("button", name="Top up").click()
    expect(page.get_by_test_id(f"key-{nonce}-balance")).to_have_text("0.5 NEAR", timeout=30_000)
    near_before = int(rpc.call("query", {"request_type": "view_account", "finality": "final",
                                         "account_id": ALICE})["amount"])  # fmt: skip
    key.get_by_role("button", name="Delete key").click()
    key.get_by_role("button", name="Yes, delete key").click()
    # The key's card goes once the list is read again, and the list says what happened.
    expect(key).to_have_count(0, timeout=30_000)
    expect(page.get_by_text(re.compile(r"deleted key \d+; 0.5 NEAR came back"))).to_be_visible()
    assert (
        rpc.view("outlayer.localnet", "get_payment_key", {"owner": ALICE, "nonce": nonce}) is None
    )
    near_after = int(rpc.call("query", {"request_type": "view_account", "finality": "final",
                                        "account_id": ALICE})["amount"])  # fmt: skip
    assert near_after > near_before + 4 * 10**23  # the balance (and the storage) came back

    visit(page, stack, "secrets")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Yes, delete").click()
    # Said on the profile's own row and then by the list (both, for a moment).
    expect(page.get_by_text("deleted profile dash").first).to_be_visible(timeout=30_000)
    assert rpc.view("outlayer.localnet", "list_user_secrets", {"account_id": ALICE}) == []

    project_deleted(page, stack, project)


def project_deleted(page: Page, stack: RunningStack, project: str) -> None:
    visit(page, stack, "projects")
    card = page.get_by_role("article", name=f"project {project}")
    card.get_by_role("button", name="Delete project").click()
    card.get_by_role("button", name="Yes, delete project").click()
    # The card goes once the list is read again, and the list says what happened.
    expect(card).to_have_count(0, timeout=30_000)
    expect(page.get_by_text(f"deleted {project}")).to_be_visible()
    rpc = NearRpc(stack.rpc_url)
    assert rpc.view("outlayer.localnet", "get_project", {"project_id": project}) is None


def trapping_call(stack: RunningStack, token: str) -> tuple[str, str]:
    """An operator's project whose guest traps, called once over HTTPS: (call id, its job)."""
    digest = WasmStore(stack.dir / "wasm").put(wat_guest("deep_recursion"))  # the compiler's
    admin = {"X-Admin-Token": token}
    with httpx.Client(base_url=stack.edge_url, verify=False, timeout=60) as http:
        http.post("/projects", headers=admin, json={
            "owner": "ops.localnet", "name": "trap", "wasm_sha256": digest,
        }).raise_for_status()  # fmt: skip
        secret = http.post("/payment-keys", headers=admin, json={
            "owner": "ops.localnet", "balance": str(10**26),
        }).json()["secret"]  # fmt: skip
        called = http.post("/call/ops.localnet/trap", json={"input": ""},
                           headers={"X-Payment-Key": secret}).json()  # fmt: skip
        assert called["result"]["error"]["type"] == "runtime_error", called
        rows = http.get("/executions", headers=admin).json()["executions"]
    job = next(r["job_id"] for r in rows if r["call_id"] == called["call_id"])
    return called["call_id"], str(job)


def test_the_operator_sees_the_queue_hidden_logs_and_every_call(
    stack: RunningStack, browser: Browser, shots: Path
) -> None:
    token = (stack.dir / "admin.token").read_text().strip()
    call_id, job = trapping_call(stack, token)
    page = new_context(browser).new_page()
    visit(page, stack, "status")
    expect(page.get_by_test_id("cache-modules")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("cache-hits")).to_have_text(re.compile(r"^\d+$"))
    # Recent throughput: the call just made finished within the hour.
    expect(page.get_by_test_id("stats-hour")).to_have_text(re.compile(r"^(at least )?[1-9]\d*$"))
    expect(page.get_by_test_id("stats-minute")).to_have_text(re.compile(r"^\d+ \(\d+\.\d\d/s\)$"))

    # Without the token, or with a wrong one: refused, and no hidden log shown.
    page.get_by_role("button", name="Show the queue").click()
    expect(page.get_by_role("alert")).to_contain_text("give the operator's token")
    page.get_by_label("Operator token (X-Admin-Token)").fill("not-the-token")
    page.get_by_role("button", name="Show the queue").click()
    page.get_by_label("Job number").fill(job)
    page.get_by_role("button", name="Show hidden logs").click()
    page.get_by_label("Calls", exact=True).select_option("")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="HTTP 401")).to_have_count(3)
    expect(page.get_by_test_id("hidden-log")).to_have_count(0)
    expect(page.get_by_role("table", name="jobs not finished, oldest first")).to_have_count(0)

    page.get_by_label("Operator token (X-Admin-Token)").fill(token)
    page.get_by_role("button", name="Show the queue").click()
    expect(page.get_by_text(re.compile(r"^queued \d+, compiling \d+, leased \d+"))).to_be_visible()
    expect(page.get_by_role("table", name="jobs not finished, oldest first")).to_be_visible()
    page.get_by_label("Job number").fill("zero")
    page.get_by_role("button", name="Show hidden logs").click()
    expect(page.get_by_role("alert").filter(has_text='"zero" is not a job number')).to_be_visible()
    page.get_by_label("Job number").fill(job)
    page.get_by_role("button", name="Show hidden logs").click()
    expect(page.get_by_text(re.compile(rf"^\d+ hidden logs? for job {job}$"))).to_be_visible()
    expect(page.get_by_test_id("hidden-log").first).to_contain_text("executor:")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_text(re.compile(r"^\d+ calls?"))).to_be_visible()
    calls = page.get_by_role("table", name="every key's calls, newest first")
    expect(calls.get_by_role("row").filter(has_text=call_id[:12])).to_contain_text(job)
    # The token stays in this tab's sessionStorage, never in localStorage.
    assert page.evaluate("sessionStorage.getItem('outlayer.admintoken')") == token
    assert token not in json.dumps(page.evaluate("Object.values(localStorage)"))
    page.screenshot(path=shots / "status.png", full_page=True)
