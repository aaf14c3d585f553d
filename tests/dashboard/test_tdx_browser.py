"""The dashboard, in Chromium, judging a real keystore in mode "tdx": the keystore runs against
the dstack stand-in, which answers with the product side's genuine recorded quote. The browser
verifies Intel's chain and TCB status itself and finds the quote binding other keys (the
sample's, not this keystore's): the Attestation page shows the chain verified with its TCB status
and measurements and the binding refused, and Secrets refuses to encrypt to the keystore.

The edge would itself refuse this keystore (it checks the same binding), so the browser's
requests are answered here: the built dashboard from build/dashboard, and /attestation from the
keystore over its attested-TLS port, rendered as the edge renders it. The browser's clock is set
inside the recorded collateral's validity."""

from __future__ import annotations

import datetime
import json
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import grpc
import pytest
from google.protobuf import json_format
from playwright.sync_api import Browser, Page, Route, expect

from devstack.stack import DASHBOARD_DIR
from outlayer.attested import SERVER_NAME, served_certificate
from outlayer.config import Settings
from outlayer.grpcserver import GRPC_OPTIONS
from outlayer.tls import ensure_dev_pki, identity_for
from outlayer.v1 import keystore_pb2, keystore_pb2_grpc
from services.keystore.server import build_server
from services.keystore.tee import DstackTee
from tests.dashboard.harness import chromium, new_context
from tests.dstack_standin import running_dstack_standin
from tests.test_attestation import COLLATERAL, MEASURED, QUOTE, VALID_AT

ORIGIN = "http://127.0.0.1:9"  # never dialled: every request is answered by the route below
VERIFIED_AT = datetime.datetime.fromtimestamp(VALID_AT, datetime.UTC)


@dataclass
class RunningKeystore:
    target: str
    settings: Settings
    dstack_calls: list[str]

    def attestation(self, nonce: str) -> dict[str, object]:
        """GetAttestation over the keystore's own TLS (pinned to the certificate it serves),
        not judged: judging it is the browser's part."""
        tls = self.settings.tls
        pem = served_certificate(self.target, tls, "edge")
        identity = identity_for(tls, "edge")
        assert identity is not None
        credentials = grpc.ssl_channel_credentials(
            root_certificates=pem,
            private_key=identity.key_file.read_bytes(),
            certificate_chain=identity.cert_file.read_bytes(),
        )
        options = [*GRPC_OPTIONS, ("grpc.ssl_target_name_override", SERVER_NAME)]
        with grpc.secure_channel(self.target, credentials, options=options) as channel:
            answer = keystore_pb2_grpc.KeystoreServiceStub(channel).GetAttestation(
                keystore_pb2.GetAttestationRequest(nonce=nonce), timeout=30
            )
        rendered: dict[str, object] = json_format.MessageToDict(
            answer, preserving_proto_field_name=True
        )
        return rendered


@pytest.fixture(scope="module")
def keystore(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[RunningKeystore]:
    if not (DASHBOARD_DIR / "index.html").is_file():
        pytest.fail(
            f"no dashboard in {DASHBOARD_DIR}: run scripts/setup.sh (it builds it)", pytrace=False
        )
    tmp = tmp_path_factory.mktemp("tdx-keystore")
    ensure_dev_pki(tmp / "pki")
    configured = settings.model_copy(
        update={
            "tls": settings.tls.model_copy(update={"enabled": True, "dir": tmp / "pki"}),
            "keystore": settings.keystore.model_copy(
                update={
                    "mode": "tdx",
                    "master_key_file": tmp / "master.key",
                    "collateral_file": COLLATERAL,
                }
            ),
        }
    )
    with running_dstack_standin(QUOTE) as (endpoint, calls):
        tee = DstackTee(endpoint, collateral_file=COLLATERAL, pccs_url="")
        server, port = build_server(configured, "127.0.0.1:0", tee=tee)
        server.start()
        try:
            yield RunningKeystore(f"127.0.0.1:{port}", configured, calls)
        finally:
            server.stop(grace=None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def serve(keystore: RunningKeystore, asked: list[str]) -> Callable[[Route], None]:
    def answer(route: Route) -> None:
        url = urlparse(route.request.url)
        if url.path == "/attestation":
            nonce = parse_qs(url.query).get("nonce", [""])[0]
            asked.append(nonce)
            route.fulfill(
                status=200,
                content_type="application/json",
                body=json.dumps(keystore.attestation(nonce)),
            )
            return
        if url.path.startswith("/dashboard/"):
            name = url.path.removeprefix("/dashboard/") or "index.html"
            path = (DASHBOARD_DIR / name).resolve()
            if path.is_file() and DASHBOARD_DIR.resolve() in path.parents:
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                route.fulfill(status=200, content_type=kind, body=path.read_bytes())
                return
        route.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps({"code": "not_found", "message": f"{url.path} is not served here"}),
        )

    return answer


@pytest.fixture
def page(browser: Browser, keystore: RunningKeystore) -> Iterator[tuple[Page, list[str]]]:
    context = new_context(browser)
    asked: list[str] = []
    context.route("**/*", serve(keystore, asked))
    tab = context.new_page()
    tab.clock.set_fixed_time(VERIFIED_AT)  # within the recorded collateral's validity
    try:
        yield tab, asked
    finally:
        context.close()


def visit(page: Page, path: str) -> None:
    page.goto(f"{ORIGIN}/dashboard/#/{path}")
    expect(page.locator("main")).to_have_attribute("data-page", path)
    expect(page.get_by_text("loading…")).to_have_count(0, timeout=30_000)


BINDING = (
    "the quote's report_data does not bind this keystore's TLS key, identity and our nonce: it "
    "vouches for other keys (or another nonce)"
)


def test_the_attestation_page_verifies_intels_chain_and_refuses_the_binding(
    page: tuple[Page, list[str]], keystore: RunningKeystore
) -> None:
    tab, asked = page
    visit(tab, "attestation")
    expect(tab.get_by_test_id("att-mode")).to_have_text("tdx")
    verdict = tab.get_by_test_id("verdict")
    expect(verdict).to_contain_text("not verified")
    expect(tab.get_by_test_id("verdict-chain")).to_contain_text("Intel chain verified")
    expect(tab.get_by_test_id("verdict-tcb")).to_have_text("UpToDate")
    expect(tab.get_by_test_id("verdict-reason")).to_have_text([f" {BINDING}"])
    for check in (
        "pck_chain",
        "crls",
        "qe_report_signature",
        "quote_signature",
        "tcb_info",
        "qe_identity",
        "tcb_level",
        "tcb_status",
    ):
        expect(tab.get_by_test_id(f"check-{check}")).to_have_attribute("data-ok", "true")
    expect(tab.get_by_test_id("check-binding")).to_have_attribute("data-ok", "false")
    expect(tab.get_by_test_id("att-tcb")).to_have_text("UpToDate")
    expect(tab.get_by_test_id("att-advisories")).to_have_text("none")
    expect(tab.get_by_test_id("att-mrtd")).to_have_text(MEASURED["mrtd"])
    expect(tab.get_by_test_id("att-allowlisted")).to_contain_text("compare them yourself")
    expect(tab.get_by_test_id("verdict-meaning")).to_contain_text(
        "encrypts nothing to this keystore"
    )
    assert len(asked) == 1 and len(asked[0]) == 64  # a fresh nonce of the browser's own
    assert "GetQuote" in keystore.dstack_calls  # the quote came from (the stand-in for) dstack

    # The user's allow-list: the measurements are on it, and the verdict still refuses the binding.
    tab.locator("summary", has_text="Your allow-list").click()
    tab.locator("#allowlist").fill(json.dumps({"measurements": [MEASURED]}))
    tab.get_by_role("button", name="Save and check again").click()
    expect(tab.get_by_test_id("att-allowlisted")).to_have_text("on your allow-list")
    expect(tab.get_by_test_id("check-measurements")).to_have_attribute("data-ok", "true")
    expect(tab.get_by_test_id("verdict-reason")).to_have_text([f" {BINDING}"])
    shots = os.environ.get("OUTLAYER_DASHBOARD_SHOTS")  # docs/dashboard/, when re-taken
    if shots:
        tab.screenshot(path=str(Path(shots) / "attestation-tdx.png"), full_page=True)
    tab.locator("#allowlist").fill('{"measurements": [{"mrtd": "00"}]}')
    tab.get_by_role("button", name="Save and check again").click()
    expect(
        tab.get_by_text("allow-list entry 1: mrtd must be 48 bytes of hex (96 digits)")
    ).to_be_visible()


def test_secrets_refuses_to_encrypt_to_the_keystore_with_the_verdicts_reason(
    page: tuple[Page, list[str]],
) -> None:
    tab, _ = page
    visit(tab, "secrets")
    verdict = tab.get_by_test_id("verdict")
    expect(verdict).to_contain_text("not verified: nothing is encrypted to it")
    expect(tab.get_by_test_id("verdict-tcb")).to_have_text("UpToDate")
    expect(tab.get_by_test_id("verdict-reason")).to_have_text([f" {BINDING}"])


def test_at_todays_date_the_recorded_collateral_is_refused_as_expired(
    browser: Browser, keystore: RunningKeystore
) -> None:
    context = new_context(browser)
    context.route("**/*", serve(keystore, []))
    tab = context.new_page()  # the real clock: the recorded collateral expired in 2025-07
    try:
        visit(tab, "attestation")
        expect(tab.get_by_test_id("verdict-chain")).to_contain_text("Intel chain not verified")
        expect(tab.get_by_test_id("check-tcb_info")).to_have_attribute("data-ok", "false")
        expect(tab.get_by_test_id("check-tcb_info")).to_contain_text("fetch fresh collateral")
    finally:
        context.close()


def test_a_development_keystore_is_shown_as_such_and_trusted_for_its_binding_only(
    browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    """The same pages against a keystore in mode "development": its labelled statement binds its
    keys and our nonce, so the dev stack may encrypt to it; no Intel chain is claimed."""
    ensure_dev_pki(tmp_path / "pki")
    keystore = settings.keystore.model_copy(update={"master_key_file": tmp_path / "master.key"})
    tls = settings.tls.model_copy(update={"enabled": True, "dir": tmp_path / "pki"})
    configured = settings.model_copy(update={"tls": tls, "keystore": keystore})
    server, port = build_server(configured, "127.0.0.1:0")
    server.start()
    context = new_context(browser)
    running = RunningKeystore(f"127.0.0.1:{port}", configured, [])
    context.route("**/*", serve(running, []))
    tab = context.new_page()
    try:
        visit(tab, "attestation")
        expect(tab.get_by_test_id("att-mode")).to_have_text("development")
        expect(tab.get_by_test_id("verdict")).to_contain_text("development keystore")
        expect(tab.get_by_test_id("verdict-chain")).to_have_count(0)
        expect(tab.get_by_test_id("verdict-reason")).to_have_count(0)
        expect(tab.get_by_test_id("att-checks")).to_have_count(0)
    finally:
        context.close()
        server.stop(grace=None)
