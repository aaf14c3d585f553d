import { useState } from "preact/hooks";
import { api, enc, query } from "../api";
import { formatUnits } from "../near";
import { Card, Field, Loading, Status, Table, useAction, useApp, useLoad, when } from "../ui";

export function StatusPage() {
  const { rpc, config } = useApp();
  const health = useLoad(async () => {
    const [edge, chain] = await Promise.all([
      api("/healthz").then(() => "ok", (e: Error) => e.message),
      rpc.call("status", []).then((s: any) => `ok: ${s.chain_id}, height ${s.sync_info?.latest_block_height}`, (e: Error) => e.message),
    ]);
    return { edge, chain };
  }, []);
  const stats = useLoad(() => api("/public/stats"), []);
  const workers = useLoad(() => api("/public/workers"), []);
  const pricing = useLoad(() => api("/public/pricing"), []);
  const s = stats.data;
  return (
    <>
      <h1>Status</h1>
      <div class="grid">
        <Card title="Health">
          <Loading {...health} />
          {health.data && (
            <dl class="facts">
              <dt>HTTPS edge</dt><dd data-testid="health-edge">{health.data.edge}</dd>
              <dt>NEAR JSON-RPC</dt><dd>{health.data.chain}</dd>
              <dt>Contract</dt><dd>{config.contractId}</dd>
            </dl>
          )}
        </Card>
        <Card title="Queue and throughput">
          <Loading {...stats} />
          {s && (
            <dl class="facts">
              <dt>Queued</dt><dd data-testid="stats-queued">{s.jobs_queued ?? 0}</dd>
              <dt>Running</dt><dd>{s.jobs_running ?? 0}</dd>
              <dt>Done</dt><dd>{s.jobs_done ?? 0}</dd>
              <dt>On-chain requests</dt><dd>{s.near_requests ?? 0}</dd>
              <dt>HTTPS calls (pending)</dt><dd>{s.https_calls ?? 0} ({s.https_calls_pending ?? 0})</dd>
              <dt>Projects</dt><dd>{s.projects ?? 0}</dd>
            </dl>
          )}
          <button type="button" onClick={() => { stats.reload(); health.reload(); workers.reload(); }}>Refresh</button>
        </Card>
      </div>
      <Card title="Executors">
        <Loading {...workers} />
        {workers.data && (
          <Table caption="registered executors" head={["name", "active", "registered"]} rows={(workers.data.workers ?? []).map((w: any) => [w.name, w.active ? "yes" : "no", when(w.registered_at_unix)])} />
        )}
      </Card>
      <Card title="Pricing">
        <Loading {...pricing} />
        {pricing.data && (
          <Table
            caption={`per unit; compile time capped at ${Number(pricing.data.max_compile_ms ?? 0) / 1000} s`}
            head={["unit", "base fee", "per million instructions", "per second", "per compile second"]}
            rows={(pricing.data.units ?? []).map((u: any) => {
              const d = u.token_id === "near" ? 24 : 6;
              const show = (a: string) => formatUnits(a, d, d) + (u.token_id === "near" ? " NEAR" : " USD");
              return [u.token_id, show(u.base_fee), show(u.per_million_instructions), show(u.per_second), show(u.per_compile_second)];
            })}
          />
        )}
      </Card>
      <Operator />
    </>
  );
}

/** The operator's view of every HTTPS call (X-Admin-Token: kept in this page's memory only). */
function Operator() {
  const [token, setToken] = useState("");
  const [status, setStatus] = useState("pending");
  const [rows, setRows] = useState<any[] | null>(null);
  const load = useAction(async () => {
    if (!token.trim()) throw new Error("give the operator's token (coordinator.admin_token; the dev stack's is in its folder, admin.token)");
    const answer = await api(`/executions${query({ status, limit: 50 })}`, { headers: { "X-Admin-Token": token.trim() } });
    const calls = answer.executions ?? [];
    setRows(calls);
    return `${calls.length} call${calls.length === 1 ? "" : "s"}${answer.next_cursor ? " (first 50)" : ""}`;
  });
  return (
    <Card title="Operators">
      <p class="note">
        Every HTTPS call, with the operator's token. The jobs' hidden logs (<code>system_hidden_logs</code>) are never served
        through the public edge: the coordinator's AdminService answers them on its loopback listener
        (<code>coordinator.admin_listen</code>) only.
      </p>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); load.go(); }}>
        <Field id="op-token" label="Operator token (X-Admin-Token)">
          <input id="op-token" type="password" autoComplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="op-status" label="Calls">
          <select id="op-status" value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            <option value="pending">in the queue or running</option>
            <option value="done">done</option>
            <option value="">all</option>
          </select>
        </Field>
        <button type="submit" disabled={load.busy}>Show</button>
      </form>
      <Status {...load} busyText="reading…" />
      {rows && (
        <Table
          caption="every key's calls, newest first"
          head={["call", "project", "paid by", "key", "status", "when"]}
          rows={rows.map((e) => [<a href={`#/executions/${enc(e.call_id)}`}>{e.call_id.slice(0, 12)}…</a>, `${e.owner}/${e.project}`, e.sender, e.key_id, e.status, when(e.created_at_unix)])}
          empty="none"
        />
      )}
    </Card>
  );
}
