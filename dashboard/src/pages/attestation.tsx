import { useState } from "preact/hooks";
import { loadAllowlist, saveAllowlist } from "../attest";
import { base64 } from "../near";
import { verifyKeystore } from "../sealed";
import { Card, Loading, useLoad } from "../ui";
import { VerdictLine } from "./secrets";

const when = (unix: number) => new Date(unix * 1000).toISOString().replace(".000Z", "Z");

export function Attestation() {
  const verdict = useLoad(() => verifyKeystore(), []);
  const v = verdict.data;
  const a = v?.attestation;
  let quote = "";
  if (a?.quote) {
    const bytes = base64.decode(a.quote);
    quote = v!.mode === "development" ? new TextDecoder().decode(bytes) : `${bytes.length} bytes of TDX quote`;
  }
  const d = v?.dcap;
  return (
    <>
      <h1>Attestation</h1>
      <p class="lead">
        The keystore holds the master secret from which every repository's key is derived. Its attestation,
        made for a nonce this page chose, binds its TLS key and its identity key (which signs repositories'
        keys) in <code>report_data</code>: SHA-256(TLS key ‖ identity) ‖ nonce. A TDX quote is verified here,
        in this browser: Intel's certificate chain up to the pinned SGX Root CA, the CRLs, the quoting enclave,
        the quote's signature, the TCB info and the TCB status.
      </p>
      <Card title="Verdict">
        <Loading {...verdict} />
        {v && <VerdictLine verdict={v} />}
        {v?.mode === "development" && (
          <p class="note">
            A development keystore runs without TDX: its statement is labelled and only proves the binding, not
            hardware protection. Production clients refuse it; the dev stack accepts it.
          </p>
        )}
        {v?.mode === "tdx" && (
          <p class="note" data-testid="verdict-meaning">
            {v.ok
              ? "Verified means: a genuine Intel TDX machine at an accepted TCB level made this quote now (for our nonce), and it vouches for the keys this keystore uses, so secrets encrypted to them can be read only inside that TD. "
              : "Not verified: the dashboard encrypts nothing to this keystore. "}
            It does not say what code the TD runs: that is what its measurements (MRTD, RTMR0-3) identify.
            Compare them with the values published for the keystore's release, or set your allow-list below so
            this browser compares them.{v.dcap && <> Checked at {when(v.dcap.verified_at)} (this browser's clock).</>}{" "}
            The same checks from a terminal: <code>outlayer attestation verify</code>.
          </p>
        )}
        <button type="button" onClick={verdict.reload}>Check again (new nonce)</button>
      </Card>
      {v?.mode === "tdx" && (
        <Card title="Checks">
          <ul class="checks" data-testid="att-checks">
            {v.checks.map((c) => (
              <li data-testid={`check-${c.id}`} data-ok={String(c.ok)}>
                <span class={`badge ${c.ok ? "good" : "bad"}`}>{c.ok ? "✓" : "✗"}</span> {c.label}:{" "}
                <span class={c.ok ? "note" : "error"}>{c.detail}</span>
              </li>
            ))}
          </ul>
          <dl class="facts">
            <dt>TCB status</dt><dd data-testid="att-tcb">{d?.tcb_status ?? "not established"}</dd>
            <dt>QE / TDX module</dt><dd>{d?.qe_tcb_status ?? "?"} / {d?.tdx_module_tcb_status ?? "?"}</dd>
            <dt>Advisories</dt><dd data-testid="att-advisories">{d?.advisory_ids.length ? d.advisory_ids.join(", ") : "none"}</dd>
            <dt>FMSPC</dt><dd>{d?.fmspc ?? "?"}</dd>
            {d?.collateral_expires_at && (<><dt>Collateral until</dt><dd>{when(d.collateral_expires_at)}</dd></>)}
          </dl>
        </Card>
      )}
      {v?.report && (
        <Card title="Measurements">
          <dl class="facts" data-testid="att-measurements">
            <dt>MRTD</dt><dd><code data-testid="att-mrtd">{v.report.mrtd}</code></dd>
            <dt>RTMR0</dt><dd><code>{v.report.rtmr0}</code></dd>
            <dt>RTMR1</dt><dd><code>{v.report.rtmr1}</code></dd>
            <dt>RTMR2</dt><dd><code>{v.report.rtmr2}</code></dd>
            <dt>RTMR3</dt><dd><code>{v.report.rtmr3}</code></dd>
            <dt>Quote's report_data</dt><dd><code>{v.report.report_data}</code></dd>
            <dt>Allow-list</dt>
            <dd data-testid="att-allowlisted">
              {v.allowlisted === undefined ? "none set in this browser: compare them yourself" : v.allowlisted ? "on your allow-list" : "NOT on your allow-list"}
            </dd>
          </dl>
          <Allowlist onSaved={verdict.reload} />
        </Card>
      )}
      {v && (
        <Card title="What the keystore answered">
          <dl class="facts">
            <dt>Mode</dt><dd data-testid="att-mode">{a.mode}</dd>
            <dt>Nonce (ours)</dt><dd><code>{v.nonce}</code></dd>
            <dt>report_data</dt><dd><code>{a.report_data}</code></dd>
            <dt>Identity key</dt><dd><code>{a.identity}</code></dd>
            {a.collateral_json && (<><dt>Collateral</dt><dd>{a.collateral_json.length} bytes</dd></>)}
          </dl>
          <h3>Quote</h3>
          <pre>{quote}</pre>
          <h3>TLS certificate</h3>
          <pre>{a.tls_certificate_pem}</pre>
        </Card>
      )}
    </>
  );
}

/** This browser's allow-list of measurement sets: the CLI's --measurements file format. */
function Allowlist({ onSaved }: { onSaved: () => void }) {
  const current = loadAllowlist();
  const [text, setText] = useState(current ? JSON.stringify({ measurements: current }, null, 1) : "");
  const [error, setError] = useState("");
  const save = () => {
    try {
      saveAllowlist(text);
      setError("");
      onSaved();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <details>
      <summary>Your allow-list (kept in this browser)</summary>
      <label for="allowlist">{'{"measurements": [{"mrtd": "…", "rtmr0": "…", "rtmr1": "…", "rtmr2": "…", "rtmr3": "…"}]}'} (empty: none)</label>
      <textarea id="allowlist" rows={6} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      <button type="button" onClick={save}>Save and check again</button>
      {error && <p class="error">{error}</p>}
    </details>
  );
}
