import { api } from "../api";
import { formatUnits } from "../near";
import { Card, Loading, Table, useApp, useLoad, when } from "../ui";

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
              return [u.token_id, formatUnits(u.base_fee, d, 9), formatUnits(u.per_million_instructions, d, 9), formatUnits(u.per_second, d, 9), formatUnits(u.per_compile_second, d, 9)];
            })}
          />
        )}
      </Card>
      <p class="note">Operators: hidden logs and the queue's jobs are read with the operator's certificate (<code>outlayer</code> CLI), not through this page.</p>
    </>
  );
}
