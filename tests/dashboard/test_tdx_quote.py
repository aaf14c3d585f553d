"""The dashboard reads a TDX quote's measurements in the browser (dashboard/src/tdx.ts): on the
product side's real quote it finds what dcap-qvl finds, and it refuses what is not a TDX quote.
The module is compiled by the dashboard's own TypeScript and run by Node, as the browser would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dcap_qvl
import pytest

from tests.test_attestation import QUOTE

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
TSC = DASHBOARD / "node_modules" / ".bin" / "tsc"


@pytest.fixture(scope="module")
def parse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not TSC.is_file():
        pytest.fail("the dashboard's npm packages are missing: run scripts/setup.sh", pytrace=False)
    out = tmp_path_factory.mktemp("tdx-js")
    source = str(DASHBOARD / "src" / "tdx.ts")
    compile_ = [str(TSC), "--target", "es2022", "--module", "es2022", "--outDir", str(out), source]
    subprocess.run(compile_, check=True, capture_output=True)
    (out / "package.json").write_text('{"type": "module"}')
    script = out / "parse.js"
    script.write_text(
        "import { readFileSync } from 'node:fs';\n"
        "import { parseTdReport } from './tdx.js';\n"
        "try { console.log(JSON.stringify(parseTdReport(readFileSync(process.argv[2])))); }\n"
        "catch (e) { console.log(JSON.stringify({ error: e.message })); }\n"
    )
    return script


def run(script: Path, quote: Path) -> dict[str, object]:
    done = subprocess.run(["node", str(script), str(quote)], capture_output=True, text=True,
                          check=True, timeout=30)  # fmt: skip
    answer: dict[str, object] = json.loads(done.stdout)
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
