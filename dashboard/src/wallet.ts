// Signing in. On localnet: a development wallet holding a dev account's key, loaded from its
// key file into this tab's memory (and this tab's sessionStorage, localnet only), signing here.
// On testnet/mainnet: the user's own wallet through @hot-labs/near-connect (loaded on demand).
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

/** A real wallet (HOT, Meteor, MyNearWallet, ...) through NEAR Connect. Not exercised by the tests:
 * no wallet reaches localnet. */
export class ConnectorWallet implements Wallet {
  readonly kind = "connector";
  constructor(
    readonly accountId: string,
    private readonly wallet: any,
    private readonly connector: any,
    private readonly rpc: Rpc,
  ) {}

  static async signIn(config: Config, rpc: Rpc): Promise<ConnectorWallet> {
    if (config.network === "localnet") throw new Error("wallets do not reach localnet: use the development wallet");
    const { NearConnector } = await import("@hot-labs/near-connect");
    const connector = new NearConnector({ network: config.network, providers: { [config.network]: [config.rpcUrl] } });
    const wallet = await connector.connect();
    const accounts = await wallet.getAccounts({ network: config.network });
    if (!accounts.length) throw new Error("the wallet gave no account");
    return new ConnectorWallet(accounts[0].accountId, wallet, connector, rpc);
  }

  async signAndSend(receiverId: string, actions: Action[]): Promise<Outcome> {
    const outcome: any = await this.wallet.signAndSendTransaction({
      receiverId,
      actions: actions.map((a) =>
        a.kind === "functionCall"
          ? { type: "FunctionCall", params: { methodName: a.method, args: a.args ?? {}, gas: a.gas.toString(), deposit: a.deposit.toString() } }
          : { type: "Transfer", params: { deposit: a.deposit.toString() } },
      ),
    });
    const txHash: string = outcome?.transaction?.hash ?? outcome?.transaction_outcome?.id;
    return this.rpc.waitFinal(txHash, this.accountId, 120_000);
  }

  async signOut(): Promise<void> {
    await this.connector.disconnect(this.wallet);
  }
}
