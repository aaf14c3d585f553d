// A NEAR Connect wallet (an "executor") for tests and localnet. NEAR Connect runs this script in a
// sandboxed iframe (opaque origin, scripts only) and calls the object given to
// window.selector.ready(...) over postMessage: signIn, getAccounts, signAndSendTransaction(s),
// signOut. It holds the key the user pastes into it (a near-cli key file) in NEAR Connect's
// wallet storage, asks the user to approve every transaction in its own UI, signs with WebCrypto
// Ed25519 and sends to the RPC NEAR Connect hands it (window.selector.providers[network]).
// Self-contained on purpose: the sandbox cannot import the dApp's modules.
// (NEAR Connect rewrites some global names in executor code; this file avoids them.)

const STORED = "account"; // {accountId, privateKey}: this wallet's only state

// --- encodings -----------------------------------------------------------------------------
const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function base58Encode(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

function base58Decode(text) {
  let n = 0n;
  for (const c of text) {
    const digit = ALPHABET.indexOf(c);
    if (digit < 0) throw new Error(`not base58: ${JSON.stringify(c)}`);
    n = n * 58n + BigInt(digit);
  }
  const bytes = [];
  while (n > 0n) {
    bytes.unshift(Number(n % 256n));
    n /= 256n;
  }
  for (const c of text) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

const base64 = (bytes) => btoa(String.fromCharCode(...bytes));
const base64url = (bytes) => base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

// Borsh, as nearcore hashes a v0 transaction.
class Writer {
  parts = [];
  u8(v) {
    this.parts.push(v & 0xff);
  }
  u32(v) {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
  }
  uint(v, size) {
    if (v < 0n || v >= 1n << BigInt(8 * size)) throw new Error(`${v} does not fit ${size} bytes`);
    for (let i = 0; i < size; i++) this.parts.push(Number((v >> BigInt(8 * i)) & 0xffn));
  }
  raw(bytes) {
    for (const b of bytes) this.parts.push(b);
  }
  bytes(bytes) {
    this.u32(bytes.length);
    this.raw(bytes);
  }
  string(s) {
    this.bytes(new TextEncoder().encode(s));
  }
  done() {
    return Uint8Array.from(this.parts);
  }
}

function argsBytes(args) {
  if (args instanceof Uint8Array) return args;
  if (Array.isArray(args) && args.every((b) => Number.isInteger(b))) return Uint8Array.from(args);
  return new TextEncoder().encode(JSON.stringify(args ?? {}));
}

/** NEAR Connect's actions (near-wallet-selector's format): FunctionCall and Transfer here. */
function encodeAction(w, action) {
  if (action.type === "FunctionCall") {
    const p = action.params;
    w.u8(2);
    w.string(p.methodName);
    w.bytes(argsBytes(p.args));
    w.uint(BigInt(p.gas ?? "30000000000000"), 8);
    w.uint(BigInt(p.deposit ?? "0"), 16);
  } else if (action.type === "Transfer") {
    w.u8(3);
    w.uint(BigInt(action.params.deposit), 16);
  } else {
    throw new Error(`this test wallet signs FunctionCall and Transfer actions only, not ${action.type}`);
  }
}

function encodeTransaction(tx) {
  const w = new Writer();
  w.string(tx.signerId);
  w.u8(0); // ed25519
  w.raw(tx.publicKey);
  w.uint(tx.nonce, 8);
  w.string(tx.receiverId);
  w.raw(tx.blockHash);
  w.u32(tx.actions.length);
  for (const action of tx.actions) encodeAction(w, action);
  return w.done();
}

// --- keys ----------------------------------------------------------------------------------
/** A near-cli key file's account and ed25519 key, checked: {accountId, privateKey, publicKey}. */
async function parseKeyFile(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error("the key file is not JSON (near-cli's {account_id, private_key})");
  }
  const accountId = data?.account_id;
  const secret = data?.private_key ?? data?.secret_key;
  if (typeof accountId !== "string" || !accountId) throw new Error("the key file has no account_id");
  if (typeof secret !== "string" || !secret.startsWith("ed25519:")) {
    throw new Error("the key file's private_key must start with ed25519:");
  }
  const raw = base58Decode(secret.slice("ed25519:".length));
  if (raw.length !== 64 && raw.length !== 32) throw new Error("an ed25519 private key is 64 bytes");
  const publicKey = base58Encode(await publicKeyOf(raw.slice(0, 32)));
  return { accountId, privateKey: secret, publicKey: "ed25519:" + publicKey };
}

const PKCS8_ED25519 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

async function signingKey(seed, extractable = false) {
  const pkcs8 = new Uint8Array(PKCS8_ED25519.length + 32);
  pkcs8.set(PKCS8_ED25519);
  pkcs8.set(seed, PKCS8_ED25519.length);
  return crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, extractable, ["sign"]);
}

async function publicKeyOf(seed) {
  const jwk = await crypto.subtle.exportKey("jwk", await signingKey(seed, true));
  return fromBase64url(jwk.x);
}

const seedOf = (account) => base58Decode(account.privateKey.slice("ed25519:".length)).slice(0, 32);

// --- RPC -----------------------------------------------------------------------------------
function rpcUrl(network) {
  const url = window.selector.providers?.[network]?.[0];
  if (!url) throw new Error(`the dApp gave this wallet no RPC for ${network} (NearConnector's providers)`);
  return url;
}

async function rpc(network, method, params) {
  const response = await fetch(rpcUrl(network), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: "wallet", method, params }),
  });
  const body = await response.json();
  if (body.error) {
    const info = body.error.data ?? body.error.cause?.info ?? body.error.message;
    throw new Error(`RPC ${method}: ${typeof info === "string" ? info : JSON.stringify(info)}`);
  }
  return body.result;
}

async function hasKey(network, account) {
  try {
    await rpc(network, "query", {
      request_type: "view_access_key",
      finality: "optimistic",
      account_id: account.accountId,
      public_key: account.publicKey,
    });
    return true;
  } catch {
    return false;
  }
}

async function signAndSend(network, account, receiverId, actions) {
  const access = await rpc(network, "query", {
    request_type: "view_access_key",
    finality: "optimistic",
    account_id: account.accountId,
    public_key: account.publicKey,
  });
  const block = await rpc(network, "block", { finality: "final" });
  const body = encodeTransaction({
    signerId: account.accountId,
    publicKey: base58Decode(account.publicKey.slice("ed25519:".length)),
    nonce: BigInt(access.nonce) + 1n,
    receiverId,
    blockHash: base58Decode(block.header.hash),
    actions,
  });
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", await signingKey(seedOf(account)), hash));
  const signed = new Uint8Array(body.length + 65);
  signed.set(body);
  signed[body.length] = 0; // ed25519
  signed.set(signature, body.length + 1);
  // The final outcome (FinalExecutionOutcome), as every NEAR Connect wallet returns it.
  return rpc(network, "send_tx", { signed_tx_base64: base64(signed), wait_until: "FINAL" });
}

// --- the wallet's own UI (inside NEAR Connect's popup) -------------------------------------
const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function screen(html) {
  const root = document.getElementById("root");
  root.style.display = "flex";
  root.innerHTML = `<main style="width: 90%; max-width: 440px; text-align: left">${html}</main>`;
  return root;
}

/** Shows the screen, resolves with the button the user pressed (its data-answer). */
async function ask(html) {
  await window.selector.ui.showIframe();
  const root = screen(html);
  return new Promise((resolve) => {
    root.querySelectorAll("button[data-answer]").forEach((button) =>
      button.addEventListener("click", () => resolve(button.dataset.answer)),
    );
  });
}

function describe(action) {
  if (action.type === "FunctionCall") {
    const p = action.params;
    return `call ${escapeHtml(p.methodName)}, deposit ${escapeHtml(p.deposit ?? "0")} yocto, gas ${escapeHtml(p.gas)}`;
  }
  if (action.type === "Transfer") return `transfer ${escapeHtml(action.params.deposit)} yocto`;
  return escapeHtml(action.type);
}

async function approve(account, transactions) {
  const items = transactions
    .map((t) => `<li>to <b>${escapeHtml(t.receiverId)}</b>: ${t.actions.map(describe).join("; ")}</li>`)
    .join("");
  const answer = await ask(`
    <h1>Approve ${transactions.length === 1 ? "a transaction" : `${transactions.length} transactions`}</h1>
    <p>Signed by <b data-testid="signer">${escapeHtml(account.accountId)}</b></p>
    <ul aria-label="what you sign">${items}</ul>
    <button data-answer="approve">Approve</button> <button data-answer="reject">Reject</button>`);
  screen("<p role='status'>sending…</p>");
  if (answer !== "approve") throw new Error("User rejected the transaction");
}

async function stored() {
  const text = await window.selector.storage.get(STORED);
  return text ? JSON.parse(text) : null;
}

async function signedIn(signerId) {
  const account = await stored();
  if (!account) throw new Error("not signed in to the OutLayer test wallet");
  if (signerId && signerId !== account.accountId) {
    throw new Error(`this wallet holds ${account.accountId}, not ${signerId}`);
  }
  return account;
}

// --- the NEAR Connect wallet interface -----------------------------------------------------
class TestWallet {
  async signIn({ network }) {
    let error = "";
    for (;;) {
      const answer = await ask(`
        <h1>OutLayer test wallet</h1>
        <label for="keyfile">Key file (near-cli JSON)</label>
        <textarea id="keyfile" rows="6" style="width: 100%"></textarea>
        ${error ? `<p role="alert">${escapeHtml(error)}</p>` : ""}
        <button data-answer="connect">Connect</button> <button data-answer="cancel">Cancel</button>`);
      if (answer !== "connect") throw new Error("User rejected the sign-in");
      const text = document.getElementById("keyfile").value;
      try {
        const account = await parseKeyFile(text);
        if (!(await hasKey(network, account))) {
          throw new Error(`${account.accountId} has no access key ${account.publicKey} on ${network}`);
        }
        await window.selector.storage.set(STORED, JSON.stringify(account));
        return [{ accountId: account.accountId, publicKey: account.publicKey }];
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
    }
  }

  async getAccounts() {
    const account = await stored();
    return account ? [{ accountId: account.accountId, publicKey: account.publicKey }] : [];
  }

  async signOut() {
    await window.selector.storage.remove(STORED);
  }

  async signAndSendTransaction({ network, signerId, receiverId, actions }) {
    const account = await signedIn(signerId);
    await approve(account, [{ receiverId, actions }]);
    return signAndSend(network, account, receiverId, actions);
  }

  async signAndSendTransactions({ network, signerId, transactions }) {
    const account = await signedIn(signerId);
    await approve(account, transactions);
    const outcomes = [];
    for (const t of transactions) outcomes.push(await signAndSend(network, account, t.receiverId, t.actions));
    return outcomes;
  }
}

window.selector.ready(new TestWallet());
