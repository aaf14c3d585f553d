import { useState } from "preact/hooks";
import { api, enc, query } from "../api";
import { functionCall, parseUnits } from "../near";
import { money, token } from "../store";
import { Card, Field, Loading, NeedsSignIn, Status, Table, useAction, useApp, useLoad, when } from "../ui";

export function Earnings() {
  return (
    <>
      <h1>Earnings</h1>
      <p class="lead">What your projects earned: on chain (requests, and HTTPS usage once settled) and over HTTPS.</p>
      <NeedsSignIn>
        <MyEarnings />
      </NeedsSignIn>
    </>
  );
}

function MyEarnings() {
  const { wallet, rpc, config } = useApp();
  const account = wallet!.accountId;
  const [cursors, setCursors] = useState<string[]>([""]);
  const summary = useLoad(async () => {
    const [chain, edge] = await Promise.all([
      rpc.view<Record<string, string>>(config.contractId, "get_developer_earnings", { account_id: account }),
      api(`/public/project-earnings/${enc(account)}`),
    ]);
    const show = (list: any[] = []) => Promise.all(list.map((t) => money(rpc, t.amount, t.token_id)));
    return {
      chain: await Promise.all(Object.entries(chain ?? {}).map(async ([t, a]) => ({ tokenId: t, amount: a, text: await money(rpc, a, t) }))),
      httpsTotal: await show(edge.https_total),
      unsettled: await show(edge.https_unsettled),
    };
  }, [account]);
  const cursor = cursors[cursors.length - 1];
  const history = useLoad(async () => {
    const page = await api(`/public/project-earnings/${enc(account)}/history${query({ limit: 20, cursor })}`);
    const rows = await Promise.all(
      (page.entries ?? []).map(async (e: any) => [
        e.source,
        e.project,
        await money(rpc, e.amount, e.token_id),
        e.call_id ? <a href={`#/executions/${encodeURIComponent(e.call_id)}`}>{e.call_id.slice(0, 12)}…</a> : `request ${e.request_id}`,
        e.settlement ?? "—",
        when(e.created_at_unix),
      ]),
    );
    return { rows, next: page.next_cursor ?? "" };
  }, [account, cursor]);
  const [tokenId, setTokenId] = useState("");
  const [amount, setAmount] = useState("");
  const withdraw = useAction(async () => {
    const chosen = tokenId || summary.data?.chain[0]?.tokenId;
    if (!chosen) throw new Error("nothing to withdraw yet");
    const args: Record<string, string> = { token_id: chosen };
    if (amount.trim()) args.amount = parseUnits(amount, (await token(rpc, chosen)).decimals).toString();
    const outcome = await wallet!.signAndSend(config.contractId, [functionCall("withdraw_developer_earnings", args, 0n)]);
    if (outcome.value === false) throw new Error("the token transfer failed; your earnings were restored");
    summary.reload();
    history.reload();
    return `withdrawn to ${account}`;
  });
  const s = summary.data;
  return (
    <>
      <Card title="Summary">
        <Loading {...summary} />
        {s && (
          <dl class="facts">
            <dt>Withdrawable on chain</dt><dd data-testid="earnings-on-chain">{s.chain.map((c) => c.text).join(", ") || "nothing"}</dd>
            <dt>Earned over HTTPS</dt><dd>{s.httpsTotal.join(", ") || "nothing"}</dd>
            <dt>Of which not settled yet</dt><dd data-testid="earnings-unsettled">{s.unsettled.join(", ") || "nothing"}</dd>
          </dl>
        )}
        <button type="button" onClick={() => { summary.reload(); history.reload(); }}>Refresh</button>
      </Card>
      <Card title="Withdraw">
        <form class="inline" onSubmit={(e) => { e.preventDefault(); withdraw.go(); }}>
          <Field id="wd-token" label="Token">
            <select id="wd-token" value={tokenId} onChange={(e) => setTokenId((e.target as HTMLSelectElement).value)}>
              {(s?.chain ?? []).map((c) => <option value={c.tokenId}>{c.tokenId}</option>)}
              {!s?.chain.length && <option value="">nothing to withdraw</option>}
            </select>
          </Field>
          <Field id="wd-amount" label="Amount (empty: all)">
            <input id="wd-amount" inputMode="decimal" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />
          </Field>
          <button type="submit" disabled={withdraw.busy}>Withdraw (signs withdraw_developer_earnings)</button>
        </form>
        <Status {...withdraw} busyText="signing the withdrawal…" />
      </Card>
      <Card title="History">
        <Loading {...history} />
        {history.data && (
          <Table caption="each payment, newest first" head={["source", "project", "amount", "call / request", "settlement", "when"]} rows={history.data.rows} empty="no payments yet" />
        )}
        <div class="buttons">
          <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous page</button>
          <button type="button" disabled={!history.data?.next} onClick={() => setCursors([...cursors, history.data!.next])}>Next page</button>
        </div>
      </Card>
    </>
  );
}
