import { useState } from "preact/hooks";
import { api, enc, query } from "../api";
import { formatUnits } from "../near";
import { money, rememberedKeys } from "../store";
import { Card, Field, Loading, Table, useApp, useLoad, when } from "../ui";

const PAGE = 20;
// An on-chain request's page: #/executions/request-<id> (an HTTPS call's: #/executions/<call id>).
const REQUEST = "request-";

/** The secret that reads HTTPS calls: one this browser keeps, or one pasted for this tab. */
function useReadingKey(): [string, (s: string) => void, string[]] {
  const { wallet } = useApp();
  const kept = wallet ? rememberedKeys(wallet.accountId) : {};
  const [pasted, setPasted] = useState(sessionStorage.getItem("outlayer.readkey") ?? "");
  const secret = pasted || Object.values(kept)[0] || "";
  return [secret, (s) => { sessionStorage.setItem("outlayer.readkey", s); setPasted(s); }, Object.keys(kept)];
}

interface Filters {
  kind: "" | "chain" | "https";
  status: "" | "pending" | "success" | "failed";
  project: string; // OWNER/NAME (HTTPS calls) or a repository URL (requests on chain)
}

interface Row {
  kind: "chain" | "https";
  id: string;
  link: string;
  project: string;
  status: string;
  error: string;
  resources: string;
  cost: string;
  at: number;
  settlement: string;
}

function resources(used: any): string {
  if (!used) return "—";
  const parts = [`${Number(used.instructions ?? 0).toLocaleString("en")} instr.`, `${used.time_ms ?? 0} ms`];
  if (Number(used.compile_ms ?? 0) > 0) parts.push(`built ${used.compile_ms} ms`);
  return parts.join(", ");
}

const short = (hash: string | undefined) => (hash ? `${hash.slice(0, 10)}…` : "");

/** Where each source's listing stands: one cursor per source, "" for its first page. */
interface Cursors {
  chain: string;
  https: string;
}

export function Executions() {
  const { wallet, rpc } = useApp();
  const [secret, setSecret, kept] = useReadingKey();
  const [filters, setFilters] = useState<Filters>({ kind: "", status: "", project: "" });
  const [draft, setDraft] = useState(filters);
  const [pages, setPages] = useState<Cursors[]>([{ chain: "", https: "" }]);
  const cursor = pages[pages.length - 1];
  const account = wallet?.accountId ?? "";
  const byRepo = filters.project.startsWith("https://");
  const wantChain = filters.kind !== "https" && !!account && (!filters.project || byRepo);
  const wantHttps = filters.kind !== "chain" && !!secret && !byRepo;
  const page = useLoad(async () => {
    const rows: Row[] = [];
    let next: Cursors = { chain: "", https: "" };
    const chain = wantChain && cursor.chain !== "end"
      ? api(`/public/requests${query({ sender: account, status: filters.status, repo: filters.project, cursor: cursor.chain, limit: PAGE })}`)
      : Promise.resolve(null);
    const [owner, project] = filters.project.includes("/") ? filters.project.split("/", 2) : ["", ""];
    const https = wantHttps && cursor.https !== "end"
      ? api(`/executions${query({ owner, project, status: filters.status, cursor: cursor.https, limit: PAGE })}`, { headers: { "X-Payment-Key": secret } })
      : Promise.resolve(null);
    const [onChain, calls] = await Promise.all([chain, https]);
    for (const r of onChain?.requests ?? []) {
      rows.push({
        kind: "chain", id: String(r.request_id), link: `#/executions/${REQUEST}${r.request_id}`,
        project: r.code_repo ?? "", status: r.status, error: r.error_type ?? "",
        resources: r.resources_used ? resources(r.resources_used) : "—",
        cost: r.charged ? `${formatUnits(r.charged, 24)} NEAR` : "—", at: Number(r.created_at_unix ?? 0),
        settlement: r.resolve_tx_hash ?? "",
      });
    }
    for (const e of calls?.executions ?? []) {
      rows.push({
        kind: "https", id: e.call_id, link: `#/executions/${enc(e.call_id)}`, project: `${e.owner}/${e.project}`,
        status: e.status === "pending" ? "pending" : (e.result_status ?? "done"), error: e.error_type ?? "",
        resources: resources(e.resources_used), cost: e.charged ? await money(rpc, e.charged, e.token_id) : "—",
        at: Number(e.created_at_unix ?? 0), settlement: e.settlement_tx_hash ?? (e.settlement ?? ""),
      });
    }
    next = { chain: onChain?.next_cursor || "end", https: calls?.executions && calls.next_cursor ? calls.next_cursor : "end" };
    rows.sort((a, b) => b.at - a.at);
    return { rows, next, more: next.chain !== "end" || next.https !== "end" };
  }, [secret, account, JSON.stringify(filters), JSON.stringify(cursor)]);
  const set = (key: keyof Filters) => (e: Event) => setDraft({ ...draft, [key]: (e.target as HTMLInputElement).value } as Filters);
  return (
    <>
      <h1>Executions</h1>
      <Card title="Your executions">
        <p class="note">
          {account ? <>Requests on chain sent by <strong>{account}</strong> (public, as the chain is)</> : "Sign in to list the requests your account sent on chain"}
          {" "}and HTTPS calls, read with a payment key: its own and those to its owner's projects
          {kept.length ? ` (key ${kept[0]}, kept in this browser)` : ""}. Newest first.
        </p>
        {!kept.length && (
          <Field id="ex-key" label="Payment key secret (olk_…) to read HTTPS calls with">
            <input id="ex-key" type="password" autoComplete="off" value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
          </Field>
        )}
        <form class="inline" onSubmit={(e) => { e.preventDefault(); setPages([{ chain: "", https: "" }]); setFilters(draft); }}>
          <Field id="ex-kind" label="Kind">
            <select id="ex-kind" value={draft.kind} onChange={set("kind")}>
              <option value="">both</option>
              <option value="chain">on chain</option>
              <option value="https">HTTPS</option>
            </select>
          </Field>
          <Field id="ex-status" label="Status">
            <select id="ex-status" value={draft.status} onChange={set("status")}>
              <option value="">any</option>
              <option value="pending">pending</option>
              <option value="success">success</option>
              <option value="failed">failed</option>
            </select>
          </Field>
          <Field id="ex-project" label="Project (OWNER/NAME, or a repository URL for requests on chain)">
            <input id="ex-project" value={draft.project} onInput={set("project")} />
          </Field>
          <button type="submit">Filter</button>
        </form>
        <Loading {...page} />
        {page.data && (
          <Table
            caption="newest first"
            head={["kind", "execution", "project or source", "status", "error", "resources", "cost", "when", "settlement"]}
            rows={page.data.rows.map((r) => [
              r.kind === "chain" ? "on chain" : "HTTPS",
              <a href={r.link} data-testid={`execution-${r.kind}-${r.id}`}>{r.kind === "chain" ? `request ${r.id}` : r.id}</a>,
              r.project,
              r.status,
              r.error || "—",
              r.resources,
              r.cost,
              when(r.at),
              r.settlement.length > 20 ? <code title={r.settlement}>{short(r.settlement)}</code> : (r.settlement || "—"),
            ])}
            empty={wantChain || wantHttps ? "no executions match" : "sign in, or give a payment key, to list executions"}
          />
        )}
        <div class="buttons">
          <button type="button" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>Previous page</button>
          <button type="button" disabled={!page.data?.more} onClick={() => setPages([...pages, page.data!.next])}>Next page</button>
        </div>
      </Card>
    </>
  );
}

export function ExecutionDetail({ callId }: { callId: string }) {
  if (callId.startsWith(REQUEST)) return <RequestDetail requestId={callId.slice(REQUEST.length)} />;
  return <CallDetail callId={callId} />;
}

function CompileStep({ used, built, compiling }: { used: any; built?: boolean; compiling?: boolean }) {
  const ms = Number(used?.compile_ms ?? 0);
  if (compiling) return <>the module is being built</>;
  if (ms > 0 || built) return <>built for this execution: {ms} ms of CPU (charged once)</>;
  return <>the module was cached (no build)</>;
}

function RequestDetail({ requestId }: { requestId: string }) {
  const request = useLoad(() => {
    if (!/^\d+$/.test(requestId)) throw new Error(`"${requestId}" is not a request id (a number)`);
    return api(`/public/requests/${enc(requestId)}`);
  }, [requestId]);
  const r = request.data;
  const output = r?.output_json ? JSON.stringify(JSON.parse(r.output_json), null, 2) : "";
  return (
    <>
      <p><a href="#/executions">← Executions</a></p>
      <h1>Request {requestId} on chain</h1>
      <Loading {...request} />
      {r && (
        <Card title="Execution">
          <dl class="facts" data-testid="execution">
            <dt>Status</dt><dd data-testid="execution-status">{r.status}{r.resolved ? " · resolved on chain" : ""}</dd>
            {r.error_type && (<><dt>Error</dt><dd class="error">{r.error_type}: {r.error_message}</dd></>)}
            <dt>Sent by</dt><dd>{r.sender} to {r.contract_id}</dd>
            <dt>Code</dt><dd>{r.code_repo}{r.code_commit ? ` at ${r.code_commit.slice(0, 12)}` : ""}</dd>
            <dt>Attached</dt><dd>{formatUnits(r.payment ?? "0", 24)} NEAR{r.attached_usd && r.attached_usd !== "0" ? ` + ${r.attached_usd} stablecoin units` : ""}</dd>
            <dt>Charged</dt><dd>{r.charged ? `${formatUnits(r.charged, 24)} NEAR (the rest refunded)` : "—"}</dd>
            <dt>Instructions</dt><dd>{r.resources_used?.instructions ?? "—"}</dd>
            <dt>Time</dt><dd>{r.resources_used?.time_ms ?? "—"} ms</dd>
            <dt>Compile step</dt><dd data-testid="execution-compile"><CompileStep used={r.resources_used} built={r.built} compiling={r.status === "compiling"} /></dd>
            <dt>Requested</dt><dd>{when(r.created_at_unix)} (block {r.block_height ?? "—"})</dd>
            <dt>Finished</dt><dd>{when(r.completed_at_unix)}</dd>
            <dt>Settlement</dt>
            <dd data-testid="execution-settlement">
              {r.resolve_tx_hash ? <>resolve_execution in transaction <code>{r.resolve_tx_hash}</code></> : "not resolved on chain yet"}
            </dd>
          </dl>
          <h3>Output (as resolved on chain)</h3>
          <pre data-testid="execution-output">{output || (r.status === "success" ? "null" : "(none)")}</pre>
          <h3>Logs</h3>
          <p class="note">A request's logs (its guest's stderr) never go on chain, so they are not public: the chain holds the output or the error above.</p>
        </Card>
      )}
    </>
  );
}

function CallDetail({ callId }: { callId: string }) {
  const { rpc } = useApp();
  const [secret] = useReadingKey();
  const call = useLoad(async () => {
    if (!secret) throw new Error("a call is read with the payment key that made it (or one of the project owner's): keep one in this browser or paste it under Executions");
    const answer = await api(`/calls/${enc(callId)}`, { headers: { "X-Payment-Key": secret } });
    return { ...answer, chargedText: answer.charged ? await money(rpc, answer.charged, answer.token_id) : "—" };
  }, [callId, secret]);
  const c = call.data;
  const r = c?.result;
  const settlement = !c || c.status !== "done" ? "once the call is done"
    : c.settlement === "settled" ? "settled on chain"
    : c.settlement === "off_chain" ? "paid with an operator's key: nothing to settle on chain"
    : c.settlement === "written_off" ? "written off: its key was deleted on chain before it was settled"
    : "waiting for the operator's next settle_https_usage batch";
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
            <dt>Compile step</dt><dd data-testid="execution-compile"><CompileStep used={r?.resources_used} /></dd>
            {r?.resources_used?.memory_bytes !== undefined && (<><dt>Memory</dt><dd>{Math.round(r.resources_used.memory_bytes / 1024)} KiB</dd></>)}
            <dt>Exit code</dt><dd>{r?.exit_code ?? "—"}</dd>
            <dt>Settlement</dt>
            <dd data-testid="execution-settlement">
              {settlement}{c.settlement_tx_hash && <>: settle_https_usage in transaction <code>{c.settlement_tx_hash}</code></>}
            </dd>
          </dl>
          <h3>Output</h3>
          <pre data-testid="execution-output">{r ? (typeof r.output === "string" ? r.output : JSON.stringify(r.output, null, 2)) : "(pending)"}</pre>
          <h3>Logs (to this key only)</h3>
          <pre>{r?.logs || "(none)"}</pre>
        </Card>
      )}
    </>
  );
}
