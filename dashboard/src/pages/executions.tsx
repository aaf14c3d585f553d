import { useState } from "preact/hooks";
import { api, enc, query } from "../api";
import { formatUnits } from "../near";
import { money, rememberedKeys, sentRequests } from "../store";
import { Card, Field, Loading, Table, useApp, useLoad, when } from "../ui";

/** The secret that reads executions: one this browser keeps, or one pasted for this tab. */
function useReadingKey(): [string, (s: string) => void, string[]] {
  const { wallet } = useApp();
  const kept = wallet ? rememberedKeys(wallet.accountId) : {};
  const [pasted, setPasted] = useState(sessionStorage.getItem("outlayer.readkey") ?? "");
  const secret = pasted || Object.values(kept)[0] || "";
  return [secret, (s) => { sessionStorage.setItem("outlayer.readkey", s); setPasted(s); }, Object.keys(kept)];
}

export function Executions() {
  const { wallet, rpc } = useApp();
  const [secret, setSecret, kept] = useReadingKey();
  const [filters, setFilters] = useState({ owner: "", project: "", sender: "", status: "" });
  const [draft, setDraft] = useState(filters);
  const [cursors, setCursors] = useState<string[]>([""]);
  const cursor = cursors[cursors.length - 1];
  const page = useLoad(async () => {
    if (!secret) return null;
    const answer = await api(`/executions${query({ ...filters, limit: 20, cursor })}`, { headers: { "X-Payment-Key": secret } });
    const rows = await Promise.all(
      (answer.executions ?? []).map(async (e: any) => [
        <a href={`#/executions/${encodeURIComponent(e.call_id)}`}>{e.call_id}</a>,
        `${e.owner}/${e.project}`,
        e.sender,
        e.status,
        e.charged ? await money(rpc, e.charged, e.token_id) : "—",
        when(e.created_at_unix),
      ]),
    );
    return { rows, next: answer.next_cursor ?? "" };
  }, [secret, JSON.stringify(filters), cursor]);
  const onChain = wallet ? sentRequests(wallet.accountId) : [];
  const text = (key: keyof typeof draft) => (e: Event) => setDraft({ ...draft, [key]: (e.target as HTMLInputElement).value });
  return (
    <>
      <h1>Executions</h1>
      <Card title="HTTPS calls">
        <p class="note">
          The calls your payment key made and the calls to its owner's projects
          {kept.length ? ` (read with key ${kept[0]}, kept in this browser)` : ""}.
        </p>
        {!kept.length && (
          <Field id="ex-key" label="Payment key secret (olk_…) to read them with">
            <input id="ex-key" type="password" autoComplete="off" value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
          </Field>
        )}
        <form class="inline" onSubmit={(e) => { e.preventDefault(); setCursors([""]); setFilters(draft); }}>
          <Field id="ex-owner" label="Owner"><input id="ex-owner" value={draft.owner} onInput={text("owner")} /></Field>
          <Field id="ex-project" label="Project"><input id="ex-project" value={draft.project} onInput={text("project")} /></Field>
          <Field id="ex-sender" label="Paid by"><input id="ex-sender" value={draft.sender} onInput={text("sender")} /></Field>
          <Field id="ex-status" label="Status">
            <select id="ex-status" value={draft.status} onChange={text("status")}>
              <option value="">any</option>
              <option value="pending">pending</option>
              <option value="done">done</option>
            </select>
          </Field>
          <button type="submit">Filter</button>
        </form>
        <Loading {...page} />
        {page.data && (
          <Table caption="newest first" head={["call", "project", "paid by", "status", "charged", "when"]} rows={page.data.rows} empty="no calls match" />
        )}
        <div class="buttons">
          <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous page</button>
          <button type="button" disabled={!page.data?.next} onClick={() => setCursors([...cursors, page.data!.next])}>Next page</button>
        </div>
      </Card>
      {wallet && (
        <Card title="On-chain requests from this browser">
          <Table
            caption="request_execution transactions this browser sent"
            head={["request", "transaction", "status", "error", "charged", "when"]}
            rows={onChain.map((r) => [
              r.result?.request_id ?? "—",
              <code>{r.txHash}</code>,
              r.result?.status ?? "—",
              r.result?.error?.type ?? "—",
              r.result?.charged ? `${formatUnits(r.result.charged, 24)} NEAR` : "—",
              new Date(r.at).toISOString().replace("T", " ").slice(0, 19) + " UTC",
            ])}
            empty="none yet: the playground sends them"
          />
        </Card>
      )}
    </>
  );
}

export function ExecutionDetail({ callId }: { callId: string }) {
  const { rpc } = useApp();
  const [secret] = useReadingKey();
  const call = useLoad(async () => {
    if (!secret) throw new Error("a call is read with the payment key that made it (or one of the project owner's): keep one in this browser or paste it under Executions");
    const answer = await api(`/calls/${enc(callId)}`, { headers: { "X-Payment-Key": secret } });
    return { ...answer, chargedText: answer.charged ? await money(rpc, answer.charged, answer.token_id) : "—" };
  }, [callId, secret]);
  const c = call.data;
  const r = c?.result;
  return (
    <>
      <p><a href="#/executions">← Executions</a></p>
      <h1>Call {callId}</h1>
      <Loading {...call} />
      {c && (
        <Card title="Execution">
          <dl class="facts" data-testid="execution">
            <dt>Status</dt><dd data-testid="execution-status">{c.status}{r ? ` · ${r.status}` : ""}</dd>
            {r?.error && (<><dt>Error</dt><dd class="error">{r.error.type}: {r.error.message}</dd></>)}
            <dt>Charged</dt><dd>{c.chargedText}</dd>
            <dt>Instructions</dt><dd>{r?.resources_used?.instructions ?? "—"}</dd>
            <dt>Time</dt><dd>{r?.resources_used?.time_ms ?? "—"} ms</dd>
            <dt>Compile step</dt><dd>{r?.resources_used?.compile_ms ? `${r.resources_used.compile_ms} ms (this call caused the build)` : "the module was cached"}</dd>
            {r?.resources_used?.memory_bytes !== undefined && (<><dt>Memory</dt><dd>{Math.round(r.resources_used.memory_bytes / 1024)} KiB</dd></>)}
            <dt>Exit code</dt><dd>{r?.exit_code ?? "—"}</dd>
            <dt>Settlement</dt><dd>on chain by the operator's next settle_https_usage batch (see Earnings' history)</dd>
          </dl>
          <h3>Output</h3>
          <pre data-testid="execution-output">{r ? (typeof r.output === "string" ? r.output : JSON.stringify(r.output, null, 2)) : "(pending)"}</pre>
          <h3>Logs (public)</h3>
          <pre>{r?.logs || "(none)"}</pre>
        </Card>
      )}
    </>
  );
}
