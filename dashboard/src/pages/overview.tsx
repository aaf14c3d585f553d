import { api } from "../api";
import { formatUnits } from "../near";
import { listKeys, money, rememberedKeys, token } from "../store";
import { Card, Loading, Table, useApp, useLoad, when } from "../ui";

export function Overview() {
  const { wallet, rpc, config } = useApp();
  const account = wallet?.accountId ?? "";
  const stats = useLoad(() => api("/public/stats"), []);
  const mine = useLoad(async () => {
    if (!account) return null;
    const [near, coin, coinToken, projects, keys, earnings] = await Promise.all([
      rpc.account(account),
      rpc.view<string>(config.stablecoin, "ft_balance_of", { account_id: account }).catch(() => "0"),
      token(rpc, config.stablecoin),
      rpc.view<any[]>(config.contractId, "list_user_projects", { account_id: account }),
      listKeys(rpc, config, account),
      rpc.view<Record<string, string>>(config.contractId, "get_developer_earnings", { account_id: account }),
    ]);
    const earned = await Promise.all(Object.entries(earnings ?? {}).map(([t, a]) => money(rpc, a, t)));
    const keyRows = await Promise.all(keys.map(async (k) => [`${k.nonce}`, await money(rpc, k.balance, k.token_id)]));
    const secret = Object.values(rememberedKeys(account))[0];
    const recent = secret
      ? await api(`/executions?limit=5`, { headers: { "X-Payment-Key": secret } }).catch(() => null)
      : null;
    return { near, coin: `${formatUnits(coin, coinToken.decimals)} ${coinToken.symbol}`, projects, keyRows, earned, recent };
  }, [account]);
  const s = stats.data;
  return (
    <>
      <h1>Overview</h1>
      {!account && (
        <p class="lead">
          OutLayer runs a repository's code, compiled to WebAssembly, for NEAR contracts and over HTTPS.
          Sign in to manage your projects, payment keys, secrets and earnings.
        </p>
      )}
      <div class="grid">
        <Card title="Platform">
          <Loading {...stats} />
          {s && (
            <dl class="facts">
              <dt>Jobs queued</dt><dd>{s.jobs_queued ?? 0}</dd>
              <dt>Running</dt><dd>{s.jobs_running ?? 0}</dd>
              <dt>Done</dt><dd>{s.jobs_done ?? 0}</dd>
              <dt>HTTPS calls</dt><dd>{s.https_calls ?? 0}</dd>
              <dt>On-chain requests</dt><dd>{s.near_requests ?? 0}</dd>
              <dt>Projects</dt><dd>{s.projects ?? 0}</dd>
              <dt>Executors active</dt><dd>{s.workers_active ?? 0}</dd>
            </dl>
          )}
        </Card>
        {account && (
          <Card title="Your account">
            <Loading {...mine} />
            {mine.data && (
              <dl class="facts">
                <dt>Account</dt><dd>{account}</dd>
                <dt>NEAR</dt><dd data-testid="near-balance">{formatUnits(mine.data.near?.amount ?? "0", 24, 4)} NEAR</dd>
                <dt>Stablecoin</dt><dd data-testid="coin-balance">{mine.data.coin}</dd>
                <dt>Earnings</dt><dd>{mine.data.earned.join(", ") || "none yet"}</dd>
              </dl>
            )}
          </Card>
        )}
      </div>
      {mine.data && (
        <div class="grid">
          <Card title="Your projects">
            <Table
              caption="projects on chain"
              head={["project", "active version", "versions"]}
              rows={mine.data.projects.map((p: any) => [<a href="#/projects">{p.project_id}</a>, p.active_version, p.versions])}
              empty="no projects: create one under Projects"
            />
          </Card>
          <Card title="Your payment keys">
            <Table caption="payment keys" head={["nonce", "balance on chain"]} rows={mine.data.keyRows} empty="no keys: create one under Payment keys" />
          </Card>
          <Card title="Recent executions">
            {mine.data.recent ? (
              <Table
                caption="your latest HTTPS executions"
                head={["call", "project", "status", "when"]}
                rows={(mine.data.recent.executions ?? []).map((e: any) => [
                  <a href={`#/executions/${encodeURIComponent(e.call_id)}`}>{e.call_id.slice(0, 12)}…</a>,
                  `${e.owner}/${e.project}`,
                  e.status,
                  when(e.created_at_unix),
                ])}
                empty="no calls yet"
              />
            ) : (
              <p class="note">Executions are read with one of your payment keys: create one (and keep it in this browser) under Payment keys.</p>
            )}
          </Card>
        </div>
      )}
    </>
  );
}
