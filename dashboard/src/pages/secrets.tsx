import { useState } from "preact/hooks";
import { functionCall, isAccountId, NEAR, parseUnits } from "../near";
import { assertEncryptable, checkSecrets, type Condition, repoKey, seal, type Verdict, verifyKeystore } from "../sealed";
import { Card, ConfirmButton, Field, Loading, NeedsSignIn, Status, Table, useAction, useApp, useLoad } from "../ui";

const STORAGE_DEPOSIT = NEAR / 10n;

export function Secrets() {
  const verdict = useLoad(() => verifyKeystore(), []);
  return (
    <>
      <h1>Secrets</h1>
      <p class="lead">
        Secrets are encrypted in this browser to the repository's key from the attested keystore; only the
        keystore can read them, and it gives them to a run only when the access condition holds.
      </p>
      <Card title="Keystore">
        <Loading {...verdict} />
        {verdict.data && <VerdictLine verdict={verdict.data} />}
      </Card>
      <NeedsSignIn>
        <MySecrets verdict={verdict.data} />
      </NeedsSignIn>
    </>
  );
}

export function VerdictLine({ verdict }: { verdict: Verdict }) {
  const dev = verdict.mode === "development";
  const tcb = verdict.dcap?.tcb_status;
  return (
    <p data-testid="verdict">
      {verdict.ok ? (
        <span class={`badge ${dev ? "warn" : "good"}`}>
          {dev ? "development keystore: attestation binds its keys, no TDX" : "verified: Intel TDX, keys bound"}
        </span>
      ) : (
        <span class="badge bad">not verified: nothing is encrypted to it</span>
      )}{" "}
      {verdict.mode === "tdx" && (
        <span data-testid="verdict-chain">
          Intel chain {verdict.dcap?.checks.filter((c) => c.id !== "tcb_status").every((c) => c.ok) ? "verified" : "not verified"}
          {tcb && <>, TCB <span data-testid="verdict-tcb">{tcb}</span></>}
          {verdict.dcap?.advisory_ids.length ? <>, advisories {verdict.dcap.advisory_ids.join(", ")}</> : null};{" "}
        </span>
      )}
      identity <code>{verdict.identity.slice(0, 16)}…</code>
      {verdict.reasons.map((r) => <span class="error" data-testid="verdict-reason"> {r}</span>)}
      {" "}<a href="#/attestation">details</a>
    </p>
  );
}

// --- the access condition builder ------------------------------------------------------------

type Kind = "Owner" | "AllowAll" | "Whitelist" | "AccountPattern" | "NearBalance" | "FtBalance" | "NftOwned" | "And" | "Or" | "Not";

interface Node {
  kind: Kind;
  accounts: string;
  pattern: string;
  amount: string;
  contract: string;
  children: Node[];
}

const blank = (kind: Kind = "Owner"): Node => ({ kind, accounts: "", pattern: "", amount: "", contract: "", children: [] });

/** The contract's condition, or a clear error for what is malformed. null: only the owner. */
export function toCondition(node: Node, depth = 0): Condition | null {
  if (depth > 7) throw new Error("conditions nest at most 8 levels");
  switch (node.kind) {
    case "Owner":
      if (depth > 0) throw new Error("'only me' cannot be inside AND/OR/NOT: use a whitelist of your account");
      return null;
    case "AllowAll":
      return { AllowAll: {} };
    case "Whitelist": {
      const accounts = node.accounts.split(/[\s,]+/).filter(Boolean);
      if (!accounts.length) throw new Error("a whitelist needs at least one account");
      const bad = accounts.find((a) => !isAccountId(a));
      if (bad) throw new Error(`${JSON.stringify(bad)} is not a NEAR account id`);
      return { Whitelist: { accounts } };
    }
    case "AccountPattern":
      if (!node.pattern || node.pattern.length > 256) throw new Error("an account pattern is a regular expression of 1 to 256 characters");
      try {
        new RegExp(node.pattern);
      } catch {
        throw new Error(`${JSON.stringify(node.pattern)} is not a regular expression`);
      }
      return { AccountPattern: { pattern: node.pattern } };
    case "NearBalance":
      return { NearBalance: { min_balance: parseUnits(node.amount || "x", 24).toString() } };
    case "FtBalance":
      if (!isAccountId(node.contract)) throw new Error("FT balance: give the token's contract account");
      if (!/^\d+$/.test(node.amount)) throw new Error("FT balance: the minimum is in the token's smallest unit (digits)");
      return { FtBalance: { contract_id: node.contract, min_balance: node.amount } };
    case "NftOwned":
      if (!isAccountId(node.contract)) throw new Error("NFT owned: give the collection's contract account");
      return { NftOwned: { contract_id: node.contract } };
    default: {
      if (!node.children.length) throw new Error(`${node.kind.toUpperCase()} needs at least one condition`);
      if (node.kind === "Not" && node.children.length !== 1) throw new Error("NOT takes exactly one condition");
      const conditions = node.children.map((c) => toCondition(c, depth + 1) as Condition);
      return { Logic: { operator: node.kind, conditions } };
    }
  }
}

function ConditionEditor({ node, onChange, depth, id }: { node: Node; onChange: (n: Node) => void; depth: number; id: string }) {
  const set = (patch: Partial<Node>) => onChange({ ...node, ...patch });
  const input = (key: "accounts" | "pattern" | "amount" | "contract", label: string, placeholder = "") => (
    <Field id={`${id}-${key}`} label={label}>
      <input id={`${id}-${key}`} placeholder={placeholder} value={node[key]} onInput={(e) => set({ [key]: (e.target as HTMLInputElement).value })} />
    </Field>
  );
  return (
    <div class="condition">
      <Field id={`${id}-kind`} label={depth ? "Condition" : "Who may use them"}>
        <select id={`${id}-kind`} value={node.kind} onChange={(e) => set({ kind: (e.target as HTMLSelectElement).value as Kind })}>
          {depth === 0 && <option value="Owner">only me (the default)</option>}
          <option value="AllowAll">anyone</option>
          <option value="Whitelist">these accounts</option>
          <option value="AccountPattern">accounts matching a pattern</option>
          <option value="NearBalance">accounts holding at least N NEAR</option>
          <option value="FtBalance">accounts holding a token</option>
          <option value="NftOwned">owners of an NFT of a collection</option>
          <option value="And">all of (AND)</option>
          <option value="Or">any of (OR)</option>
          <option value="Not">not (NOT)</option>
        </select>
      </Field>
      {node.kind === "Whitelist" && input("accounts", "Accounts (comma separated)", "alice.localnet, bob.localnet")}
      {node.kind === "AccountPattern" && input("pattern", "Pattern (regular expression)", "^.*\\.localnet$")}
      {node.kind === "NearBalance" && input("amount", "At least (NEAR)", "1.5")}
      {node.kind === "FtBalance" && (<>{input("contract", "Token contract", "usdc.localnet")}{input("amount", "At least (smallest unit)", "1000000")}</>)}
      {node.kind === "NftOwned" && input("contract", "NFT collection contract")}
      {(node.kind === "And" || node.kind === "Or" || node.kind === "Not") && (
        <>
          {node.children.map((child, i) => (
            <div>
              <ConditionEditor id={`${id}-${i}`} depth={depth + 1} node={child} onChange={(c) => set({ children: node.children.map((x, j) => (j === i ? c : x)) })} />
              <button type="button" class="danger" onClick={() => set({ children: node.children.filter((_, j) => j !== i) })}>Remove this condition</button>
            </div>
          ))}
          <button type="button" onClick={() => set({ children: [...node.children, blank("Whitelist")] })}>Add a condition</button>
        </>
      )}
    </div>
  );
}

// --- storing, listing, deleting ----------------------------------------------------------------

function MySecrets({ verdict }: { verdict?: Verdict }) {
  const { wallet, rpc, config } = useApp();
  const account = wallet!.accountId;
  const [repo, setRepo] = useState("https://github.com/outlayer-examples/echo-json");
  const [branch, setBranch] = useState("");
  const [profile, setProfile] = useState("default");
  const [pairs, setPairs] = useState<[string, string][]>([["API_KEY", ""]]);
  const [access, setAccess] = useState<Node>(blank());
  const list = useLoad(async () => {
    const entries = await rpc.view<any[]>(config.contractId, "list_user_secrets", { account_id: account });
    return Promise.all(
      entries.map(async (e) => ({
        ...e,
        access: (await rpc.view<any>(config.contractId, "get_secrets", { owner: account, repo: e.repo, branch: e.branch || undefined, profile: e.profile }))?.access,
      })),
    );
  }, [account]);
  const store = useAction(async () => {
    const trusted = assertEncryptable(verdict); // refuses, with the verdict's reasons, unless verified
    if (!/^https:\/\/github\.com\/[^/\s]+\/[^/\s]+$/.test(repo.trim())) throw new Error("the repository must be https://github.com/OWNER/REPO");
    if (!profile.trim() || profile.length > 64) throw new Error("a profile is 1 to 64 characters");
    const secrets = checkSecrets(pairs.filter(([n, v]) => n || v));
    const condition = toCondition(access);
    const key = await repoKey(repo.trim(), branch.trim(), trusted.identity);
    const blob = await seal(key, secrets);
    const args: Record<string, unknown> = { repo: repo.trim(), profile: profile.trim(), encrypted_secrets_base64: blob };
    if (branch.trim()) args.branch = branch.trim();
    if (condition) args.access = condition;
    await wallet!.signAndSend(config.contractId, [functionCall("store_secrets", args, STORAGE_DEPOSIT)]);
    list.reload();
    setPairs([["", ""]]);
    return `stored ${Object.keys(secrets).join(", ")} as profile ${profile} for ${repo} (encrypted here; the values never left this browser in clear)`;
  });
  const remove = useAction(async (e: any) => {
    await wallet!.signAndSend(config.contractId, [functionCall("delete_secrets", { repo: e.repo, branch: e.branch || undefined, profile: e.profile })]);
    list.reload();
    return `deleted profile ${e.profile} of ${e.repo}`;
  });
  return (
    <>
      <Card title="Store secrets">
        <form onSubmit={(e) => { e.preventDefault(); store.go(); }}>
          <div class="row">
            <Field id="sec-repo" label="Repository">
              <input id="sec-repo" value={repo} onInput={(e) => setRepo((e.target as HTMLInputElement).value)} />
            </Field>
            <Field id="sec-branch" label="Branch (optional)">
              <input id="sec-branch" value={branch} onInput={(e) => setBranch((e.target as HTMLInputElement).value)} />
            </Field>
            <Field id="sec-profile" label="Profile">
              <input id="sec-profile" value={profile} onInput={(e) => setProfile((e.target as HTMLInputElement).value)} />
            </Field>
          </div>
          <fieldset>
            <legend>Secrets (environment variables of the run)</legend>
            {pairs.map(([name, value], i) => (
              <div class="row">
                <Field id={`sec-name-${i}`} label="Name">
                  <input id={`sec-name-${i}`} value={name} onInput={(e) => setPairs(pairs.map((p, j) => (j === i ? [(e.target as HTMLInputElement).value, p[1]] : p)))} />
                </Field>
                <Field id={`sec-value-${i}`} label="Value">
                  <input id={`sec-value-${i}`} type="password" autoComplete="off" value={value} onInput={(e) => setPairs(pairs.map((p, j) => (j === i ? [p[0], (e.target as HTMLInputElement).value] : p)))} />
                </Field>
              </div>
            ))}
            <button type="button" onClick={() => setPairs([...pairs, ["", ""]])}>Add a secret</button>
          </fieldset>
          <fieldset>
            <legend>Access condition</legend>
            <ConditionEditor id="acc" depth={0} node={access} onChange={setAccess} />
          </fieldset>
          <button type="submit" disabled={store.busy}>Encrypt and store (signs store_secrets)</button>
        </form>
        <Status {...store} busyText="encrypting in this browser, then signing store_secrets…" />
      </Card>
      <Card title="Your secrets">
        <Loading {...list} />
        {list.data && (
          <Table
            caption="stored secrets (the values are never shown: only the keystore can decrypt them)"
            head={["repository", "branch", "profile", "who may use them", ""]}
            rows={list.data.map((e: any) => [
              e.repo,
              e.branch || "—",
              e.profile,
              <code>{JSON.stringify(e.access)}</code>,
              <ConfirmButton label="Delete" confirm={`Delete profile ${e.profile}?`} disabled={remove.busy} onConfirm={() => remove.go(e)} />,
            ])}
            empty="no secrets stored"
          />
        )}
        <Status {...remove} busyText="signing delete_secrets…" />
      </Card>
    </>
  );
}
