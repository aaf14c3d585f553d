// What this browser remembers, and small reads shared by the pages.
import { type Config } from "./config";
import { formatUnits, type Rpc } from "./near";

export interface Token {
  id: string;
  decimals: number;
  symbol: string;
}

const tokens = new Map<string, Promise<Token>>();

/** "near" (yoctoNEAR, 24 decimals) or a NEP-141 token's metadata. */
export function token(rpc: Rpc, id: string): Promise<Token> {
  if (id === "near") return Promise.resolve({ id, decimals: 24, symbol: "NEAR" });
  let found = tokens.get(id);
  if (!found) {
    found = rpc.view(id, "ft_metadata", {}).then(
      (m: any) => ({ id, decimals: Number(m?.decimals ?? 6), symbol: String(m?.symbol ?? id) }),
      () => ({ id, decimals: 6, symbol: id }),
    );
    tokens.set(id, found);
  }
  return found;
}

export async function money(rpc: Rpc, amount: string | undefined, tokenId: string): Promise<string> {
  const t = await token(rpc, tokenId || "near");
  return `${formatUnits(amount ?? "0", t.decimals)} ${t.symbol}`;
}

// --- payment keys' secrets: kept in this browser only if the user says so --------------------

const KEYS = (account: string) => `outlayer.keys.${account}`;

export function rememberedKeys(account: string): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(KEYS(account)) ?? "{}");
  } catch {
    return {};
  }
}

export function rememberKey(account: string, nonce: number, secret: string): void {
  localStorage.setItem(KEYS(account), JSON.stringify({ ...rememberedKeys(account), [nonce]: secret }));
}

export function forgetKey(account: string, nonce: number): void {
  const keys = rememberedKeys(account);
  delete keys[nonce];
  localStorage.setItem(KEYS(account), JSON.stringify(keys));
}

export interface PaymentKey {
  owner: string;
  nonce: number;
  key_hash: string;
  token_id: string;
  balance: string;
  max_per_call: string | null;
  allowed_projects: string[] | null;
  expires_at: string | number | null;
  created_at: string | number;
}

/** The account's payment keys: nonces are 1, 2, ... per owner (deleted ones leave gaps). */
export async function listKeys(rpc: Rpc, config: Config, owner: string): Promise<PaymentKey[]> {
  const found: PaymentKey[] = [];
  for (let from = 1; from < 1000; from += 10) {
    const batch = await Promise.all(
      Array.from({ length: 10 }, (_, i) => rpc.view<PaymentKey | null>(config.contractId, "get_payment_key", { owner, nonce: from + i })),
    );
    const keys = batch.filter((k): k is PaymentKey => k !== null);
    found.push(...keys);
    if (!keys.length) break;
  }
  return found;
}

// --- on-chain requests sent from this browser ------------------------------------------------

export interface SentRequest {
  txHash: string;
  at: number;
  source: string;
  result: any;
}

const REQUESTS = (account: string) => `outlayer.requests.${account}`;

export function sentRequests(account: string): SentRequest[] {
  try {
    return JSON.parse(localStorage.getItem(REQUESTS(account)) ?? "[]");
  } catch {
    return [];
  }
}

export function recordRequest(account: string, request: SentRequest): void {
  localStorage.setItem(REQUESTS(account), JSON.stringify([request, ...sentRequests(account)].slice(0, 50)));
}
