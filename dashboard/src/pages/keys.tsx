import { useState } from "preact/hooks";
import { api, enc } from "../api";
import { base64, formatUnits, functionCall, hex, isAccountId, NEAR, parseUnits, sha256, TGAS } from "../near";
import { forgetKey, listKeys, money, rememberKey, rememberedKeys, token, type PaymentKey } from "../store";
import { Card, ConfirmButton, Field, Loading, NeedsSignIn, Status, Table, useAction, useApp, useLoad, when, whenNs } from "../ui";

const STORAGE_DEPOSIT = NEAR / 10n; // 0.1 NEAR for storage; what is not used comes back

export function PaymentKeys() {
  return (
    <>
      <h1>Payment keys</h1>
      <p class="lead">
        A payment key pays for HTTPS calls (header <code>X-Payment-Key</code>). Its secret is made in this
        browser; only its SHA-256 goes on chain.
      </p>
      <NeedsSignIn>
        <KeysOfAccount />
      </NeedsSignIn>
    </>
  );
}

function KeysOfAccount() {
  const { wallet, rpc, config } = useApp();
  const account = wallet!.accountId;
  const keys = useLoad(() => listKeys(rpc, config, account), [account]);
  const [notice, setNotice] = useState("");
  const changed = (message?: string) => {
    setNotice(message ?? "");
    keys.reload();
  };
  return (
    <>
      <CreateKey onCreated={keys.reload} />
      <Card title="Your keys">
        <Status done={notice} />
        <Loading {...keys} />
        {keys.data && !keys.data.length && <p class="note">No payment keys yet.</p>}
        {keys.data?.map((k) => <KeyCard key={k.nonce} paymentKey={k} onChange={changed} />)}
      </Card>
    </>
  );
}

function CreateKey({ onCreated }: { onCreated: () => void }) {
  const { wallet, rpc, config } = useApp();
  const [tokenId, setTokenId] = useState(config.stablecoin);
  const [maxPerCall, setMaxPerCall] = useState("");
  const [allowed, setAllowed] = useState("");
  const [remember, setRemember] = useState(true);
  const [secret, setSecret] = useState("");
  const create = useAction(async () => {
    const args: Record<string, unknown> = { token_id: tokenId };
    const unit = await token(rpc, tokenId);
    if (maxPerCall.trim()) args.max_per_call = parseUnits(maxPerCall, unit.decimals).toString();
    const projects = allowed.split(/[\s,]+/).filter(Boolean);
    for (const p of projects) {
      const [owner, name, extra] = p.split("/");
      if (extra !== undefined || !owner || !name || !isAccountId(owner)) throw new Error(`${JSON.stringify(p)} is not OWNER/NAME (e.g. dev.localnet/echo)`);
    }
    if (projects.length > 20) throw new Error("at most 20 allowed projects");
    if (projects.length) args.allowed_projects = projects;
    const made = "olk_" + base64.encode(crypto.getRandomValues(new Uint8Array(32))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    args.key_hash = hex(sha256(new TextEncoder().encode(made)));
    const outcome = await wallet!.signAndSend(config.contractId, [functionCall("create_payment_key", args, STORAGE_DEPOSIT)]);
    const nonce = Number((outcome.value as any).nonce);
    if (remember) rememberKey(wallet!.accountId, nonce, made);
    setSecret(made);
    onCreated();
    return `created payment key ${nonce}; top it up below`;
  });
  return (
    <Card title="Create a key">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setSecret("");
          create.go();
        }}
      >
        <Field id="key-token" label="Pays in">
          <select id="key-token" value={tokenId} onChange={(e) => setTokenId((e.target as HTMLSelectElement).value)}>
            <option value={config.stablecoin}>{config.stablecoin} (stablecoin, USD)</option>
            <option value="near">NEAR</option>
          </select>
        </Field>
        <Field id="key-max" label="Most one call may cost (optional, e.g. 0.5)">
          <input id="key-max" inputMode="decimal" value={maxPerCall} onInput={(e) => setMaxPerCall((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="key-allowed" label="Only these projects (optional, OWNER/NAME, comma separated)">
          <input id="key-allowed" value={allowed} onInput={(e) => setAllowed((e.target as HTMLInputElement).value)} />
        </Field>
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember((e.target as HTMLInputElement).checked)} /> Keep the secret in this
          browser (to read your executions and call from the playground)
        </label>
        <button type="submit" disabled={create.busy}>Create key (signs create_payment_key)</button>
      </form>
      <Status {...create} busyText="signing and sending create_payment_key…" />
      {secret && (
        <div class="secret" role="region" aria-label="the new key's secret">
          <p>
            The key's secret, shown once (only its SHA-256 is on chain):
          </p>
          <code data-testid="new-secret">{secret}</code>
          <button type="button" onClick={() => navigator.clipboard?.writeText(secret)}>Copy</button>
        </div>
      )}
    </Card>
  );
}

function KeyCard({ paymentKey: k, onChange }: { paymentKey: PaymentKey; onChange: (message?: string) => void }) {
  const { wallet, rpc, config } = useApp();
  const account = wallet!.accountId;
  const [amount, setAmount] = useState("");
  const [usageOpen, setUsageOpen] = useState(false);
  const details = useLoad(async () => {
    const [unit, edge] = await Promise.all([
      token(rpc, k.token_id),
      api(`/public/payment-keys/${enc(k.owner)}/${k.nonce}/balance`).catch((e: Error) => ({ error: e.message })),
    ]);
    const show = (a?: string) => money(rpc, a ?? "0", k.token_id);
    return {
      unit,
      edge,
      balance: await show(k.balance),
      available: edge.error ? "" : await show(edge.available),
      unsettled: edge.error ? "" : await show(edge.unsettled),
      held: edge.error ? "" : await show(edge.held),
    };
  }, [k.nonce, k.balance]);
  const topUp = useAction(async () => {
    const unit = details.data?.unit ?? (await token(rpc, k.token_id));
    const value = parseUnits(amount, unit.decimals);
    if (value <= 0n) throw new Error("top up more than 0");
    let outcome;
    if (k.token_id === "near") {
      outcome = await wallet!.signAndSend(config.contractId, [functionCall("top_up_payment_key", { nonce: k.nonce }, value)]);
    } else {
      const msg = JSON.stringify({ action: "top_up_payment_key", owner: k.owner, nonce: k.nonce });
      outcome = await wallet!.signAndSend(k.token_id, [
        functionCall("ft_transfer_call", { receiver_id: config.contractId, amount: value.toString(), msg }, 1n, 150n * TGAS),
      ]);
      if (outcome.value !== value.toString()) {
        const why = outcome.logs.find((l) => l.includes("OutLayer")) ?? "the contract did not take it";
        throw new Error(`the top-up came back to you: ${why}`);
      }
    }
    setAmount("");
    onChange();
    return `topped up key ${k.nonce} with ${amount} ${unit.symbol}`;
  });
  const remove = useAction(async () => {
    const outcome = await wallet!.signAndSend(config.contractId, [functionCall("delete_payment_key", { nonce: k.nonce })]);
    forgetKey(account, k.nonce);
    const v = outcome.value as any;
    const message = `deleted key ${k.nonce}; ${await money(rpc, v.refunded_balance, v.token_id)} came back, and its storage`;
    onChange(message); // this card goes: the list says it
    return message;
  });
  const usage = useLoad(
    () => (usageOpen ? api(`/public/payment-keys/${enc(k.owner)}/${k.nonce}/usage?limit=20`) : Promise.resolve(null)),
    [usageOpen, k.balance],
  );
  const d = details.data;
  const remembered = rememberedKeys(account)[k.nonce];
  return (
    <article class="item" aria-label={`payment key ${k.nonce}`} data-nonce={k.nonce}>
      <h3>
        Key {k.nonce} <small>{k.token_id}</small>
      </h3>
      <Loading {...details} />
      {d && (
        <dl class="facts">
          <dt>On chain</dt><dd data-testid={`key-${k.nonce}-balance`}>{d.balance}</dd>
          {d.edge.error ? (
            <><dt>Edge</dt><dd class="error">{d.edge.error}</dd></>
          ) : (
            <>
              <dt>Available now</dt><dd data-testid={`key-${k.nonce}-available`}>{d.available}</dd>
              <dt>Charged, not settled</dt><dd>{d.unsettled}</dd>
              <dt>Held by running calls</dt><dd>{d.held}</dd>
            </>
          )}
          <dt>Max per call</dt><dd>{k.max_per_call ? amountText(k.max_per_call, d.unit.decimals, d.unit.symbol) : "no cap"}</dd>
          <dt>Projects</dt><dd>{k.allowed_projects?.length ? k.allowed_projects.join(", ") : "any"}</dd>
          <dt>Expires</dt><dd>{k.expires_at ? whenNs(k.expires_at) : "never"}</dd>
          <dt>Secret</dt><dd>{remembered ? "kept in this browser" : "not in this browser"}</dd>
        </dl>
      )}
      <form class="inline" onSubmit={(e) => { e.preventDefault(); topUp.go(); }}>
        <Field id={`topup-${k.nonce}`} label={`Top up (${d?.unit.symbol ?? k.token_id})`}>
          <input id={`topup-${k.nonce}`} inputMode="decimal" placeholder="5.0" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={topUp.busy || !amount}>Top up</button>
        <ConfirmButton label="Delete key" confirm={`Delete key ${k.nonce}? Its balance and storage come back to you.`} disabled={remove.busy} onConfirm={() => remove.go()} />
        <button type="button" aria-expanded={usageOpen} onClick={() => setUsageOpen(!usageOpen)}>Usage</button>
      </form>
      <Status {...topUp} busyText="signing and sending the top-up…" />
      <Status {...remove} busyText="deleting…" />
      {usageOpen && (
        <>
          <Loading {...usage} />
          {usage.data && (
            <Table
              caption={`calls paid by key ${k.nonce}`}
              head={["call", "project", "status", "charged", "when"]}
              rows={(usage.data.calls ?? []).map((c: any) => [
                <a href={`#/executions/${encodeURIComponent(c.call_id)}`}>{c.call_id.slice(0, 12)}…</a>,
                `${c.owner}/${c.project}`,
                c.status,
                c.charged ? amountText(c.charged, d?.unit.decimals ?? 6, d?.unit.symbol ?? "") : "—",
                when(c.created_at_unix),
              ])}
              empty="no calls yet"
            />
          )}
        </>
      )}
    </article>
  );
}

function amountText(amount: string, decimals: number, symbol: string): string {
  return `${formatUnits(amount, decimals)} ${symbol}`;
}
