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
  const cache = useLoad(() => api("/public/compile-cache"), []);
  const s = stats.data;
  const c = cache.data;
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
              <dt>Finished, last minute</dt>
              <dd data-testid="stats-minute">{s.finished_last_minute ?? 0} ({(Number(s.finished_last_minute ?? 0) / 60).toFixed(2)}/s)</dd>
              <dt>Finished, last hour</dt>
              <dd data-testid="stats-hour">{s.recent_capped ? "at least " : ""}{s.finished_last_hour ?? 0}</dd>
            </dl>
          )}
          <button type="button" onClick={() => { stats.reload(); health.reload(); workers.reload(); cache.reload(); }}>Refresh</button>
        </Card>
        <Card title="Compile cache">
          <Loading {...cache} />
          {c && (
            <dl class="facts" data-testid="compile-cache">
              <dt>Modules built and kept</dt>
              <dd data-testid="cache-modules">{c.available ? (c.modules ?? 0) : `unknown: ${c.reason}`}</dd>
              {c.available && (<><dt>Size</dt><dd>{(Number(c.total_bytes ?? 0) / 1024 / 1024).toFixed(1)} MiB</dd></>)}
              {c.available && (<><dt>Runs of cached modules</dt><dd>{c.executions ?? 0}</dd></>)}
              <dt>Last {Math.round(Number(c.window_seconds ?? 3600) / 60)} min: found built</dt><dd data-testid="cache-hits">{c.hits ?? 0}</dd>
              <dt>Last {Math.round(Number(c.window_seconds ?? 3600) / 60)} min: built for a request</dt>
              <dd>{c.builds ?? 0} ({(Number(c.build_ms ?? 0) / 1000).toFixed(1)} s of CPU)</dd>
            </dl>
          )}
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

const TOKEN = "outlayer.admintoken";

/** The operator's views (X-Admin-Token: kept in this tab's sessionStorage only, gone when it
 * closes): the queue, a job's hidden logs, every HTTPS call. */
function Operator() {
  const [token, setTokenState] = useState(sessionStorage.getItem(TOKEN) ?? "");
  const setToken = (value: string) => {
    if (value) sessionStorage.setItem(TOKEN, value);
    else sessionStorage.removeItem(TOKEN);
    setTokenState(value);
  };
  const headers = () => {
    if (!token.trim()) throw new Error("give the operator's token (coordinator.admin_token; the dev stack's is in its folder, admin.token)");
    return { "X-Admin-Token": token.trim() };
  };
  return (
    <Card title="Operators">
      <p class="note">
        With the operator's token (kept in this tab only): the queue, a job's hidden logs (<code>system_hidden_logs</code>, kept
        only when <code>SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG</code> is on) and every HTTPS call. Nothing here is served without it.
      </p>
      <Field id="op-token" label="Operator token (X-Admin-Token)">
        <input id="op-token" type="password" autoComplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
      </Field>
      <OperatorQueue headers={headers} />
      <HiddenLogs headers={headers} />
      <OperatorCalls headers={headers} />
    </Card>
  );
}

type Headers = () => Record<string, string>;

function OperatorQueue({ headers }: { headers: Headers }) {
  const [queue, setQueue] = useState<any | null>(null);
  const load = useAction(async () => {
    const answer = await api("/admin/queue", { headers: headers() });
    setQueue(answer);
    return `queued ${answer.queued ?? 0}, compiling ${answer.compiling ?? 0}, leased ${answer.leased ?? 0}`;
  });
  return (
    <>
      <h3>Queue</h3>
      <button type="button" disabled={load.busy} onClick={() => load.go()}>Show the queue</button>
      <Status {...load} busyText="reading…" />
      {queue && (
        <Table
          caption="jobs not finished, oldest first"
          head={["job", "kind", "status", "attempts", "age", "lease owner", "origin"]}
          rows={(queue.jobs ?? []).map((j: any) => [
            j.job_id, j.kind, j.status, `${j.attempts ?? 0} of ${j.max_attempts ?? 0}`, `${j.age_seconds ?? 0} s`,
            j.lease_owner ? `${j.lease_owner} (until ${when(j.lease_expires_at_unix)})` : "—", <code>{j.origin}</code>,
          ])}
          empty="the queue is empty"
        />
      )}
    </>
  );
}

function HiddenLogs({ headers }: { headers: Headers }) {
  const [jobId, setJobId] = useState("");
  const [logs, setLogs] = useState<any | null>(null);
  const load = useAction(async () => {
    setLogs(null);
    if (!/^[1-9]\d*$/.test(jobId.trim())) throw new Error(`"${jobId}" is not a job number (1, 2, …: the queue and the calls list them)`);
    const answer = await api(`/admin/jobs/${enc(jobId.trim())}/hidden-logs`, { headers: headers() });
    setLogs(answer);
    const n = (answer.logs ?? []).length;
    return answer.saving ? `${n} hidden log${n === 1 ? "" : "s"} for job ${jobId.trim()}` : "hidden logs are not being kept (SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG is off)";
  });
  return (
    <>
      <h3>A job's hidden logs</h3>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); load.go(); }}>
        <Field id="op-job" label="Job number">
          <input id="op-job" inputMode="numeric" value={jobId} onInput={(e) => setJobId((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={load.busy}>Show hidden logs</button>
      </form>
      <Status {...load} busyText="reading…" />
      {logs && (logs.logs ?? []).map((l: any) => (
        <div data-testid="hidden-log">
          <p class="note">{l.source}, {when(l.created_at_unix)}</p>
          <pre>{l.text}</pre>
        </div>
      ))}
    </>
  );
}

/** Every HTTPS call, with the operator's token. */
function OperatorCalls({ headers }: { headers: Headers }) {
  const [status, setStatus] = useState("pending");
  const [rows, setRows] = useState<any[] | null>(null);
  const load = useAction(async () => {
    const answer = await api(`/executions${query({ status, limit: 50 })}`, { headers: headers() });
    const calls = answer.executions ?? [];
    setRows(calls);
    return `${calls.length} call${calls.length === 1 ? "" : "s"}${answer.next_cursor ? " (first 50)" : ""}`;
  });
  return (
    <>
      <h3>HTTPS calls</h3>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); load.go(); }}>
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
          head={["call", "job", "project", "paid by", "key", "status", "when"]}
          rows={rows.map((e) => [<a href={`#/executions/${enc(e.call_id)}`}>{e.call_id.slice(0, 12)}…</a>, e.job_id ?? "—", `${e.owner}/${e.project}`, e.sender, e.key_id, e.result_status ?? e.status, when(e.created_at_unix)])}
          empty="none"
        />
      )}
    </>
  );
}
