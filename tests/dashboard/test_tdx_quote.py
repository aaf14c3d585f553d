"""The dashboard reads a TDX quote's measurements in the browser (dashboard/src/dcap.ts): on the
product side's real quote it finds what dcap-qvl finds, and it refuses what is not a TDX quote.
The module is compiled by the dashboard's own TypeScript and run by Node, as the browser would.
Its verification (Intel's chain, collateral, TCB status) is tested in test_dcap.py."""

from __future__ import annotations

from pathlib import Path

import dcap_qvl
import pytest

from tests.dashboard.node_ts import compile_modules, run_node
from tests.test_attestation import QUOTE

PARSE_JS = """
import { readFileSync } from 'node:fs';
import { parseTdReport } from './dcap.js';
try { console.log(JSON.stringify(parseTdReport(readFileSync(process.argv[2])))); }
catch (e) { console.log(JSON.stringify({ error: e.message })); }
"""


@pytest.fixture(scope="module")
def parse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = compile_modules(tmp_path_factory.mktemp("tdx-js"), "dcap")
    script = out / "parse.js"
    script.write_text(PARSE_JS)
    return script


def run(script: Path, quote: Path) -> dict[str, object]:
    answer: dict[str, object] = run_node(script, quote)
    return answer


def test_the_measurements_are_dcap_qvls(parse: Path) -> None:
    report = dcap_qvl.parse_quote(QUOTE.read_bytes()).report
    assert run(parse, QUOTE) == {
        "version": 4,
        "mrtd": bytes(report.mr_td).hex(),
        "rtmr0": bytes(report.rt_mr0).hex(),
        "rtmr1": bytes(report.rt_mr1).hex(),
        "rtmr2": bytes(report.rt_mr2).hex(),
        "rtmr3": bytes(report.rt_mr3).hex(),
        "report_data": bytes(report.report_data).hex(),
    }


def test_what_is_not_a_tdx_quote_is_refused(parse: Path, tmp_path: Path) -> None:
    quote = QUOTE.read_bytes()
    sgx = tmp_path / "sgx"
    sgx.write_bytes(quote[:4] + (0).to_bytes(4, "little") + quote[8:])
    assert run(parse, sgx) == {"error": "not a TDX quote (TEE type 0x0)"}
    short = tmp_path / "short"
    short.write_bytes(quote[:400])
    assert run(parse, short) == {"error": "the quote is truncated"}
    v3 = tmp_path / "v3"
    v3.write_bytes((3).to_bytes(2, "little") + quote[2:])
    assert run(parse, v3) == {"error": "quote version 3 is not 4 or 5"}
    other_key = tmp_path / "p384"
    other_key.write_bytes(quote[:2] + (3).to_bytes(2, "little") + quote[4:])
    assert run(parse, other_key) == {
        "error": "the quote is not signed with ECDSA P-256 (attestation key type 2)"
    }
