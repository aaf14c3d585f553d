import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { defaultsFor, loadConfig, saveConfig, type Config, type Network } from "./config";
import { Rpc } from "./near";
import { App, type AppState, Field, Status, useAction, useApp } from "./ui";
import { ConnectorWallet, DevWallet, type Wallet, walletsOffered } from "./wallet";
import { Overview } from "./pages/overview";
import { Playground } from "./pages/playground";
import { Projects } from "./pages/projects";
import { Secrets } from "./pages/secrets";
import { PaymentKeys } from "./pages/keys";
import { Earnings } from "./pages/earnings";
import { ExecutionDetail, Executions } from "./pages/executions";
import { Attestation } from "./pages/attestation";
import { StatusPage } from "./pages/status";
import "./style.css";

const PAGES = [
  { path: "", title: "Overview", view: Overview },
  { path: "playground", title: "Playground", view: Playground },
  { path: "projects", title: "Projects", view: Projects },
  { path: "secrets", title: "Secrets", view: Secrets },
  { path: "keys", title: "Payment keys", view: PaymentKeys },
  { path: "earnings", title: "Earnings", view: Earnings },
  { path: "executions", title: "Executions", view: Executions },
  { path: "attestation", title: "Attestation", view: Attestation },
  { path: "status", title: "Status", view: StatusPage },
];

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash.replace(/^#\/?/, "");
}

function Root() {
  const [config, setConfig] = useState<Config>(loadConfig);
  const rpc = useMemo(() => new Rpc(config.rpcUrl), [config.rpcUrl]);
  const [wallet, setWallet] = useState<Wallet | null>(() => DevWallet.restore(rpc, config));
  useEffect(() => {
    // A NEAR Connect wallet signed in before a reload: asked again (asynchronously).
    if (!wallet) ConnectorWallet.restore(config, rpc).then((restored) => restored && setWallet((w) => w ?? restored));
  }, []);
  const state: AppState = { config, rpc, wallet, setWallet };
  const route = useHash();
  const [top, ...rest] = route.split("/");
  const page = PAGES.find((p) => p.path === top) ?? PAGES[0];
  const main = useRef<HTMLElement>(null);
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    document.title = `${page.title} · OutLayer`;
    setMenu(false);
  }, [page]);
  const detail = top === "executions" && rest.length ? decodeURIComponent(rest.join("/")) : "";
  return (
    <App.Provider value={state}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">OutLayer</span>
        <button class="menu-toggle" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <nav id="nav" aria-label="Pages" class={menu ? "open" : ""}>
          <ul>
            {PAGES.map((p) => (
              <li>
                <a href={`#/${p.path}`} aria-current={p === page ? "page" : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <Account onConfig={(c) => { saveConfig(c); setConfig(c); setWallet(null); }} />
      </header>
      <main id="main" ref={main} tabIndex={-1} data-page={page.path || "overview"}>
        {detail ? <ExecutionDetail callId={detail} /> : <page.view />}
      </main>
      <footer class="foot">
        <span>
          {config.network} · RPC {config.rpcUrl} · contract {config.contractId}
        </span>
      </footer>
    </App.Provider>
  );
}

/** Sign in and out; the network settings. */
function Account({ onConfig }: { onConfig: (config: Config) => void }) {
  const { wallet, setWallet, rpc, config } = useApp();
  const [open, setOpen] = useState(false);
  const [pasted, setPasted] = useState("");
  const signIn = useAction(async (text: string) => {
    const signed = await DevWallet.signIn(text, rpc, config);
    setWallet(signed);
    setOpen(false);
    return `signed in as ${signed.accountId}`;
  });
  const connect = useAction(async () => {
    setWallet(await ConnectorWallet.signIn(config, rpc));
    setOpen(false);
  });
  if (wallet) {
    return (
      <div class="account">
        <span aria-label="signed in as">
          {wallet.accountId} <small>({wallet.kind === "development" ? "dev wallet" : "wallet"})</small>
        </span>
        <button onClick={async () => { try { await wallet.signOut(); } finally { setWallet(null); } }}>Sign out</button>
      </div>
    );
  }
  return (
    <div class="account">
      <button aria-expanded={open} aria-controls="signin" onClick={() => setOpen(!open)}>
        Sign in
      </button>
      {open && (
        <div id="signin" class="popover" role="dialog" aria-label="Sign in">
          {config.network === "localnet" && (
            <>
              <p>
                Development wallet: load a dev account's key file (<code>~/.outlayer/dev/keys/alice.localnet.json</code>).
                It stays in this tab and signs here.
              </p>
              <Field id="keyfile" label="Key file (near-cli JSON)">
                <input
                  id="keyfile"
                  type="file"
                  accept=".json,application/json"
                  onChange={async (e) => {
                    const file = (e.target as HTMLInputElement).files?.[0];
                    if (file) await signIn.go(await file.text());
                  }}
                />
              </Field>
              <Field id="keytext" label="or paste it">
                <textarea id="keytext" rows={3} value={pasted} onInput={(e) => setPasted((e.target as HTMLTextAreaElement).value)} />
              </Field>
              <button disabled={signIn.busy || !pasted.trim()} onClick={() => signIn.go(pasted)}>
                Sign in with this key
              </button>
              <Status {...signIn} busyText="checking the key on chain…" />
            </>
          )}
          {walletsOffered(config) && (
            <>
              <p>Sign in with your NEAR wallet (NEAR Connect: HOT, Meteor, MyNearWallet, …{config.walletManifest && ", from the configured manifest"}).</p>
              <button disabled={connect.busy} onClick={() => connect.go()}>Connect a wallet</button>
              <Status {...connect} busyText="waiting for the wallet…" />
            </>
          )}
          <NetworkSettings onConfig={onConfig} />
        </div>
      )}
    </div>
  );
}

function NetworkSettings({ onConfig }: { onConfig: (config: Config) => void }) {
  const { config } = useApp();
  const [draft, setDraft] = useState<Config>(config);
  const [error, setError] = useState("");
  const set = (patch: Partial<Config>) => setDraft({ ...draft, ...patch });
  return (
    <details class="settings">
      <summary>Network settings</summary>
      <Field id="net" label="Network">
        <select id="net" value={draft.network} onChange={(e) => setDraft(defaultsFor((e.target as HTMLSelectElement).value as Network))}>
          <option value="localnet">localnet</option>
          <option value="testnet">testnet</option>
          <option value="mainnet">mainnet</option>
        </select>
      </Field>
      <Field id="rpcurl" label="NEAR JSON-RPC URL">
        <input id="rpcurl" value={draft.rpcUrl} onInput={(e) => set({ rpcUrl: (e.target as HTMLInputElement).value })} />
      </Field>
      <Field id="contract" label="OutLayer contract">
        <input id="contract" value={draft.contractId} onInput={(e) => set({ contractId: (e.target as HTMLInputElement).value })} />
      </Field>
      <Field id="coin" label="Stablecoin contract">
        <input id="coin" value={draft.stablecoin} onInput={(e) => set({ stablecoin: (e.target as HTMLInputElement).value })} />
      </Field>
      <Field id="manifest" label="Wallet manifest URL (NEAR Connect; empty: its own list)">
        <input id="manifest" value={draft.walletManifest} onInput={(e) => set({ walletManifest: (e.target as HTMLInputElement).value.trim() })} />
      </Field>
      <button
        onClick={() => {
          try {
            new URL(draft.rpcUrl);
          } catch {
            setError("the RPC URL is not a URL (e.g. http://127.0.0.1:3030)");
            return;
          }
          if (draft.walletManifest && !URL.canParse(draft.walletManifest)) {
            setError("the wallet manifest is not a URL (e.g. https://wallets.example.org/manifest.json)");
            return;
          }
          setError("");
          onConfig(draft);
        }}
      >
        Use these settings
      </button>
      {error && <p class="error" role="alert">{error}</p>}
    </details>
  );
}

render(<Root />, document.getElementById("app")!);
