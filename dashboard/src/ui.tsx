import { createContext, type ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import type { Config } from "./config";
import type { Rpc } from "./near";
import type { Wallet } from "./wallet";

export interface AppState {
  config: Config;
  rpc: Rpc;
  wallet: Wallet | null;
  setWallet(wallet: Wallet | null): void;
}

export const App = createContext<AppState>(null as unknown as AppState);
export const useApp = (): AppState => useContext(App);

/** Loads on mount (and on reload()); errors become a message, never a blank page. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string; loading: boolean; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (live) {
          setData(value);
          setError("");
          setLoading(false);
        }
      },
      (err: unknown) => {
        if (live) {
          setError(err instanceof Error ? err.message : String(err));
          setLoading(false);
        }
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** An action a form runs: busy while it runs, its error or its result shown next to it. */
export function useAction<A extends unknown[]>(run: (...args: A) => Promise<string | void>): {
  busy: boolean; error: string; done: string; go: (...args: A) => Promise<void>; clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const go = async (...args: A) => {
    setBusy(true);
    setError("");
    setDone("");
    try {
      setDone((await run(...args)) || "done");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, done, go, clear: () => { setError(""); setDone(""); } };
}

export function Status({ busy, error, done, busyText = "working…" }: { busy?: boolean; error?: string; done?: string; busyText?: string }) {
  if (busy) return <p class="note" role="status" aria-live="polite">{busyText}</p>;
  if (error) return <p class="error" role="alert">{error}</p>;
  if (done) return <p class="ok" role="status" aria-live="polite">{done}</p>;
  return null;
}

export function Loading({ error, loading }: { error: string; loading: boolean }) {
  if (error) return <p class="error" role="alert">{error}</p>;
  if (loading) return <p class="note" role="status">loading…</p>;
  return null;
}

export function Field({ label, children, hint, id }: { label: string; children: ComponentChildren; hint?: string; id: string }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

export function Card({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id ?? slug(title)}>
      <h2 id={id ?? slug(title)}>{title}</h2>
      {children}
    </section>
  );
}

export function Table({ caption, head, rows, empty = "nothing yet" }: { caption: string; head: string[]; rows: ComponentChildren[][]; empty?: string }) {
  return (
    <div class="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>{head.map((h) => <th scope="col">{h}</th>)}</tr>
        </thead>
        <tbody>
          {rows.length ? rows.map((r) => <tr>{r.map((c) => <td>{c}</td>)}</tr>) : <tr><td colSpan={head.length} class="note">{empty}</td></tr>}
        </tbody>
      </table>
    </div>
  );
}

export function NeedsSignIn({ children }: { children: ComponentChildren }) {
  const { wallet } = useApp();
  if (!wallet) return <p class="note">Sign in (top right) to see and manage your own.</p>;
  return <>{children}</>;
}

export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

export function when(unixSeconds: number | string | undefined): string {
  const n = Number(unixSeconds ?? 0);
  if (!n) return "—";
  return new Date(n * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function whenNs(ns: number | string | undefined): string {
  if (!ns) return "—";
  return when(Number(BigInt(ns) / 1_000_000_000n));
}

/** A destructive action asks once more, in the page (no browser dialog). */
export function ConfirmButton({ label, confirm, onConfirm, disabled }: { label: string; confirm: string; onConfirm: () => void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return <button type="button" class="danger" disabled={disabled} onClick={() => setAsking(true)}>{label}</button>;
  }
  return (
    <span class="confirm" role="group" aria-label={confirm}>
      <span>{confirm}</span>
      <button type="button" class="danger" onClick={() => { setAsking(false); onConfirm(); }}>Yes, {label.toLowerCase()}</button>
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
