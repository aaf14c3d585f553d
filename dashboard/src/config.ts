// Where the dashboard finds the chain: from the page's query (?rpc=&contract=&network=&token=
// &manifest=), remembered in this browser, else localnet's defaults. The edge is this page's own
// origin.
export type Network = "localnet" | "testnet" | "mainnet";

export interface Config {
  network: Network;
  rpcUrl: string;
  contractId: string;
  stablecoin: string; // the stablecoin's account (6 decimals, as USDC)
  // NEAR Connect's list of wallets (a manifest URL, e.g. self-hosted); "" = near-connect's own.
  // On localnet, wallets are offered only when this is set (no public wallet reaches localnet).
  walletManifest: string;
}

const DEFAULTS: Record<Network, Config> = {
  localnet: { network: "localnet", rpcUrl: "http://127.0.0.1:3030", contractId: "outlayer.localnet", stablecoin: "usdc.localnet", walletManifest: "" },
  testnet: { network: "testnet", rpcUrl: "https://rpc.testnet.near.org", contractId: "outlayer.testnet", stablecoin: "usdc.fakes.testnet", walletManifest: "" },
  mainnet: { network: "mainnet", rpcUrl: "https://rpc.mainnet.near.org", contractId: "outlayer.near", stablecoin: "17208628f84f5d6ad33f0da3bbbeb27ffcb398eac501a31bd6ad2011e36133a1", walletManifest: "" },
};
const STORED = "outlayer.config";

export function loadConfig(): Config {
  const query = new URLSearchParams(location.search);
  let stored: Partial<Config> = {};
  try {
    stored = JSON.parse(localStorage.getItem(STORED) ?? "{}");
  } catch {
    stored = {};
  }
  const network = (query.get("network") ?? stored.network ?? "localnet") as Network;
  const base = DEFAULTS[network] ?? DEFAULTS.localnet;
  const fromQuery = query.has("rpc") || query.has("contract") || query.has("token") || query.has("network") || query.has("manifest");
  const config: Config = {
    network: base.network,
    rpcUrl: query.get("rpc") ?? (stored.network === network ? stored.rpcUrl : undefined) ?? base.rpcUrl,
    contractId: query.get("contract") ?? (stored.network === network ? stored.contractId : undefined) ?? base.contractId,
    stablecoin: query.get("token") ?? (stored.network === network ? stored.stablecoin : undefined) ?? base.stablecoin,
    walletManifest: query.get("manifest") ?? (stored.network === network ? stored.walletManifest : undefined) ?? base.walletManifest,
  };
  if (fromQuery) localStorage.setItem(STORED, JSON.stringify(config));
  return config;
}

export function saveConfig(config: Config): void {
  localStorage.setItem(STORED, JSON.stringify(config));
}

export function defaultsFor(network: Network): Config {
  return { ...DEFAULTS[network] };
}
