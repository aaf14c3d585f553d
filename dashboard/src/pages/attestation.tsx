import { base64 } from "../near";
import { verifyKeystore } from "../sealed";
import { Card, Loading, useLoad } from "../ui";
import { VerdictLine } from "./secrets";

export function Attestation() {
  const verdict = useLoad(() => verifyKeystore(), []);
  const v = verdict.data;
  const a = v?.attestation;
  let quote = "";
  if (a?.quote) {
    const bytes = base64.decode(a.quote);
    quote = v!.mode === "development" ? new TextDecoder().decode(bytes) : `${bytes.length} bytes of TDX quote`;
  }
  return (
    <>
      <h1>Attestation</h1>
      <p class="lead">
        The keystore holds the master secret from which every repository's key is derived. Its attestation,
        made for a nonce this page chose, binds its TLS key and its identity key (which signs repositories'
        keys) in <code>report_data</code>: SHA-256(TLS key ‖ identity) ‖ nonce.
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
          <p class="note">
            A TDX quote: check Intel's signature chain, its TCB status and the measurements against your
            allow-list with <code>outlayer attestation fetch</code> and <code>outlayer attestation verify</code>.
          </p>
        )}
        <button type="button" onClick={verdict.reload}>Check again (new nonce)</button>
      </Card>
      {v && (
        <Card title="What the keystore answered">
          <dl class="facts">
            <dt>Mode</dt><dd data-testid="att-mode">{a.mode}</dd>
            <dt>Nonce (ours)</dt><dd><code>{v.nonce}</code></dd>
            <dt>report_data</dt><dd><code>{a.report_data}</code></dd>
            <dt>Identity key</dt><dd><code>{a.identity}</code></dd>
            {a.collateral_json && (<><dt>Collateral</dt><dd>{a.collateral_json.length} bytes</dd></>)}
            {v.report && (
              <>
                <dt>MRTD</dt><dd><code>{v.report.mrtd}</code></dd>
                <dt>RTMR0</dt><dd><code>{v.report.rtmr0}</code></dd>
                <dt>RTMR1</dt><dd><code>{v.report.rtmr1}</code></dd>
                <dt>RTMR2</dt><dd><code>{v.report.rtmr2}</code></dd>
                <dt>RTMR3</dt><dd><code>{v.report.rtmr3}</code></dd>
                <dt>Quote's report_data</dt><dd><code>{v.report.report_data}</code></dd>
              </>
            )}
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
