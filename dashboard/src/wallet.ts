// Signing in. On localnet: a development wallet holding a dev account's key, loaded from its
// key file into this tab's memory (and this tab's sessionStorage, localnet only), signing here.
// On testnet/mainnet (and on localnet with a wallet manifest set): the user's own wallet through
// @hot-labs/near-connect (loaded on demand).
import type { Config } from "./config";
import { type Action, ChainError, type KeyPair, type Outcome, Rpc, parseKeyFile } from "./near";
import { base58 } from "@scure/base";

export interface Wallet {
  readonly accountId: string;
  readonly kind: "development" | "connector";
  signAndSend(receiverId: string, actions: Action[]): Promise<Outcome>;
  signOut(): Promise<void>;
}

const SESSION = "outlayer.devwallet";

export class DevWallet implements Wallet {
  readonly kind = "development";
  constructor(
    private readonly key: KeyPair,
    private readonly rpc: Rpc,
  ) {}
  get accountId(): string {
    return this.key.accountId;
  }
  signAndSend(receiverId: string, actions: Action[]): Promise<Outcome> {
    return this.rpc.send(this.key, receiverId, actions);
  }
  async signOut(): Promise<void> {
    sessionStorage.removeItem(SESSION);
  }

  /** Checks the key against the chain: the account exists and holds this key. */
  static async signIn(text: string, rpc: Rpc, config: Config): Promise<DevWallet> {
    if (config.network !== "localnet") {
      throw new Error("the development wallet is for localnet only; use a wallet on testnet and mainnet");
    }
    const key = parseKeyFile(text);
    const publicKey = "ed25519:" + base58.encode(key.publicKey);
    if ((await rpc.account(key.accountId)) === null) {
      throw new ChainError(`${key.accountId} does not exist on ${rpc.url}`);
    }
    try {
      await rpc.call("query", {
        request_type: "view_access_key",
        finality: "optimistic",
        account_id: key.accountId,
        public_key: publicKey,
      });
    } catch {
      throw new ChainError(`${key.accountId} has no access key ${publicKey}: this key file is not its key`);
    }
    sessionStorage.setItem(SESSION, text);
    return new DevWallet(key, rpc);
  }

  static restore(rpc: Rpc, config: Config): DevWallet | null {
    const text = sessionStorage.getItem(SESSION);
    if (!text || config.network !== "localnet") return null;
    try {
      return new DevWallet(parseKeyFile(text), rpc);
    } catch {
      sessionStorage.removeItem(SESSION);
      return null;
    }
  }
}

/** The user's wallet is refused or gone: a message the user can act on. */
export class WalletError extends Error {}

// NEAR Connect knows two networks; localnet rides its "testnet" slot, with localnet's RPC URL as
// the provider NEAR Connect hands the wallet (a wallet for localnet lists testnet support).
type ConnectorNetwork = "mainnet" | "testnet";
const connectorNetwork = (config: Config): ConnectorNetwork => (config.network === "mainnet" ? "mainnet" : "testnet");
const SIGNED_IN = "outlayer.connector"; // the account, while a NEAR Connect wallet is signed in

/** Whether this config offers NEAR Connect wallets: testnet/mainnet, or localnet with a manifest. */
export function walletsOffered(config: Config): boolean {
  return config.network !== "localnet" || config.walletManifest !== "";
}

/** The manifest a NearConnector gets: a configured one fetched here (so a bad URL is a clear
 * error, not an empty wallet list), else undefined (near-connect loads its own). */
async function loadManifest(url: string): Promise<{ wallets: any[]; version: string } | undefined> {
  if (!url) return undefined;
  let response: Response;
  try {
    response = await fetch(url);
  } catch {
    throw new WalletError(`the wallet manifest ${url} did not load (is it served, with CORS?)`);
  }
  if (!response.ok) throw new WalletError(`the wallet manifest ${url} answered HTTP ${response.status}`);
  const manifest: any = await response.json().catch(() => null);
  if (!manifest || !Array.isArray(manifest.wallets)) {
    throw new WalletError(`the wallet manifest ${url} is not NEAR Connect's {"version", "wallets": [...]}`);
  }
  return { version: String(manifest.version ?? "1.0.0"), wallets: manifest.wallets };
}

let connectorFor: { key: string; connector: Promise<any> } | null = null;

/** One NearConnector per network/RPC/manifest (each adds page listeners and loads its manifest). */
function nearConnector(config: Config): Promise<any> {
  const key = JSON.stringify([config.network, config.rpcUrl, config.walletManifest]);
  if (connectorFor?.key !== key) {
    const connector = (async () => {
      const { NearConnector } = await import("@hot-labs/near-connect");
      const network = connectorNetwork(config);
      return new NearConnector({
        network,
        providers: { [network]: [config.rpcUrl] },
        manifest: await loadManifest(config.walletManifest),
        // The dashboard signs and sends; a wallet that cannot is not offered.
        features: { signAndSendTransaction: true },
      });
    })();
    connectorFor = { key, connector };
    connector.catch(() => (connectorFor = null)); // a failed load is retried next time
  }
  return connectorFor.connector;
}

/** What a wallet rejected with (an Error, a string, anything), in words for the user. */
function refusal(what: string, error: unknown): WalletError {
  const text = error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error);
  if (text === "User rejected") return new WalletError("no wallet chosen (the wallet list was closed)");
  if (text === "Wallet closed") return new WalletError(`the wallet was closed before it ${what}`);
  return new WalletError(`the wallet ${what === "signed" ? "did not sign" : "did not sign in"}: ${text}`);
}

/** The user's own wallet (HOT, Meteor, MyNearWallet, ... or a self-hosted one) through NEAR
 * Connect: it signs and sends every transaction itself; the dashboard never sees its key.
 * Tested against a NEAR Connect wallet on localnet (tests/dashboard/test_near_connect.py). */
export class ConnectorWallet implements Wallet {
  readonly kind = "connector";
  constructor(
    readonly accountId: string,
    private readonly wallet: any,
    private readonly connector: any,
    private readonly rpc: Rpc,
    private readonly network: ConnectorNetwork,
  ) {}

  static async signIn(config: Config, rpc: Rpc): Promise<ConnectorWallet> {
    if (!walletsOffered(config)) {
      throw new WalletError("no public wallet reaches localnet: use the development wallet, or set a wallet manifest that lists a localnet wallet");
    }
    const connector = await nearConnector(config);
    await connector.whenManifestLoaded;
    if (!config.walletManifest && !connector.manifest.wallets.length) {
      throw new WalletError("NEAR Connect's wallet list (from GitHub or jsDelivr) did not load: check the connection, or set a self-hosted wallet manifest under Network settings");
    }
    if (!connector.availableWallets.length) {
      throw new WalletError(`no wallet in ${config.walletManifest || "NEAR Connect's manifest"} signs and sends on ${connectorNetwork(config)}`);
    }
    let wallet: any;
    let accounts: { accountId: string }[];
    try {
      wallet = await connector.connect();
      accounts = await wallet.getAccounts({ network: connectorNetwork(config) });
    } catch (error) {
      throw refusal("signed in", error);
    }
    if (!accounts?.length) throw new WalletError("the wallet gave no account");
    localStorage.setItem(SIGNED_IN, accounts[0].accountId);
    return new ConnectorWallet(accounts[0].accountId, wallet, connector, rpc, connectorNetwork(config));
  }

  /** After a reload: the wallet NEAR Connect remembers, if it still gives the same account. */
  static async restore(config: Config, rpc: Rpc): Promise<ConnectorWallet | null> {
    const accountId = localStorage.getItem(SIGNED_IN);
    if (!accountId || !walletsOffered(config)) return null;
    try {
      const connector = await nearConnector(config);
      const { wallet, accounts } = await connector.getConnectedWallet();
      if (accounts[0]?.accountId === accountId) {
        return new ConnectorWallet(accountId, wallet, connector, rpc, connectorNetwork(config));
      }
    } catch {
      /* the wallet forgot us: signed out */
    }
    localStorage.removeItem(SIGNED_IN);
    return null;
  }

  async signAndSend(receiverId: string, actions: Action[]): Promise<Outcome> {
    let outcome: any;
    try {
      outcome = await this.wallet.signAndSendTransaction({
        network: this.network,
        signerId: this.accountId,
        receiverId,
        actions: actions.map((a) =>
          a.kind === "functionCall"
            ? { type: "FunctionCall", params: { methodName: a.method, args: a.args ?? {}, gas: a.gas.toString(), deposit: a.deposit.toString() } }
            : { type: "Transfer", params: { deposit: a.deposit.toString() } },
        ),
      });
    } catch (error) {
      throw refusal("signed", error);
    }
    const txHash: string | undefined = outcome?.transaction?.hash ?? outcome?.transaction_outcome?.id;
    if (!txHash) throw new WalletError("the wallet answered without a transaction hash");
    // The chain's own answer (the wallet's outcome is the wallet's word): final, its value.
    return this.rpc.waitFinal(txHash, this.accountId, 120_000);
  }

  async signOut(): Promise<void> {
    localStorage.removeItem(SIGNED_IN);
    await this.connector.disconnect(this.wallet);
  }
}
