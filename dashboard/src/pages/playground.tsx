import { useEffect, useState } from "preact/hooks";
import { api, enc } from "../api";
import { formatUnits, functionCall, isAccountId } from "../near";
import { money, recordRequest, rememberedKeys } from "../store";
import { Card, Field, Status, useAction, useApp, useLoad } from "../ui";

type Mode = "https" | "chain";
type SourceKind = "project" | "repo";

interface Limits {
  max_instructions: number;
  max_memory_mb: number;
  max_execution_seconds: number;
}

const COMPILING = "compilation_in_progress";
const COMPILE_WAIT_MS = 15 * 60_000; // sent again while the compiler says it is building

export function Playground() {
  const { wallet, rpc, config } = useApp();
  const account = wallet?.accountId ?? "";
  const [mode, setMode] = useState<Mode>("https");
  const [kind, setKind] = useState<SourceKind>("project");
  const [project, setProject] = useState("dev.localnet/echo");
  const [repo, setRepo] = useState("https://github.com/outlayer-examples/echo-json");
  const [refKind, setRefKind] = useState<"commit" | "branch" | "tag">("branch");
  const [ref, setRef] = useState("main");
  const [input, setInput] = useState('{"name": "NEAR"}');
  const [format, setFormat] = useState("json");
  const [limits, setLimits] = useState<Limits>({ max_instructions: 100_000_000, max_memory_mb: 128, max_execution_seconds: 10 });
  const [profile, setProfile] = useState("");
  const [secretsOwner, setSecretsOwner] = useState("");
  const [deposit, setDeposit] = useState("");
  const keys = account ? rememberedKeys(account) : {};
  const [keyNonce, setKeyNonce] = useState<string>(Object.keys(keys)[0] ?? "");
  const [pastedKey, setPastedKey] = useState("");
  const [progress, setProgress] = useState("");
  const [answer, setAnswer] = useState<any>(null);
  const pricing = useLoad(() => api("/public/pricing"), []);
  useEffect(() => {
    if (!keyNonce && Object.keys(keys).length) setKeyNonce(Object.keys(keys)[0]);
  }, [account]);

  const check = () => {
    if (kind === "project") {
      const [owner, name, extra] = project.split("/");
      if (extra !== undefined || !owner || !name || !isAccountId(owner)) throw new Error(`${JSON.stringify(project)} is not OWNER/NAME (e.g. dev.localnet/echo)`);
    } else {
      if (!/^https:\/\/github\.com\/[^/\s]+\/[^/\s]+$/.test(repo.trim())) throw new Error("the repository must be https://github.com/OWNER/REPO");
      if (refKind === "commit" && !/^[0-9a-f]{40}$/.test(ref)) throw new Error("a commit is 40 lowercase hex characters");
      if (!ref.trim()) throw new Error(`give the ${refKind}`);
    }
    if (!(limits.max_instructions >= 1 && limits.max_instructions <= 1e11)) throw new Error("max instructions: 1 to 100000000000");
    if (!(limits.max_memory_mb >= 1 && limits.max_memory_mb <= 1024)) throw new Error("max memory: 1 to 1024 MB");
    if (!(limits.max_execution_seconds >= 1 && limits.max_execution_seconds <= 60)) throw new Error("max seconds: 1 to 60");
    if (secretsOwner && !isAccountId(secretsOwner)) throw new Error(`${JSON.stringify(secretsOwner)} is not a NEAR account id`);
    if (deposit && !/^\d+$/.test(deposit)) throw new Error("the attached deposit is in the stablecoin's smallest unit: digits only (250000 = 0.25 USD)");
  };

  const estimate = useAction(async () => {
    check();
    if (mode === "chain") {
      const [withBuild, without] = await Promise.all([
        rpc.view<string>(config.contractId, "estimate_execution_cost", { resource_limits: limits, input_data: input, include_compilation: true }),
        rpc.view<string>(config.contractId, "estimate_execution_cost", { resource_limits: limits, input_data: input }),
      ]);
      return `deposit to attach: ${formatUnits(without, 24)} NEAR (${formatUnits(withBuild, 24)} NEAR if it must be compiled first); what is not used comes back`;
    }
    const units = pricing.data?.units ?? [];
    let tokenId = config.stablecoin;
    if (account && keyNonce && !pastedKey.trim()) {
      const key = await rpc.view<any>(config.contractId, "get_payment_key", { owner: account, nonce: Number(keyNonce) });
      if (key?.token_id) tokenId = key.token_id;
    }
    const unit = units.find((u: any) => (tokenId === "near" ? u.token_id === "near" : u.token_id !== "near")) ?? units[0];
    if (!unit) throw new Error("the edge gave no pricing");
    const cost =
      BigInt(unit.base_fee) +
      (BigInt(unit.per_million_instructions) * BigInt(Math.ceil(limits.max_instructions))) / 1_000_000n +
      BigInt(unit.per_second) * BigInt(limits.max_execution_seconds);
    const compile = BigInt(unit.per_compile_second) * BigInt(Math.ceil(Number(pricing.data.max_compile_ms ?? 0) / 1000));
    return `at most ${await money(rpc, cost.toString(), tokenId)} for these limits (plus up to ${await money(rpc, compile.toString(), tokenId)} if it must be compiled first); a call is charged what it used`;
  });

  const chosenKey = (): string => pastedKey.trim() || keys[keyNonce] || "";

  const run = useAction(async () => {
    check();
    setAnswer(null);
    const began = Date.now();
    if (mode === "https") {
      const secret = chosenKey();
      if (!secret) throw new Error("choose a payment key kept in this browser, or paste one (Payment keys creates one)");
      const [owner, name] = project.split("/");
      if (kind !== "project") throw new Error("an HTTPS call runs a project: pick one (or send on chain to run a repository)");
      const body: Record<string, unknown> = {
        input,
        limits,
        response_format: `RESPONSE_FORMAT_${format.toUpperCase()}`,
        async: true,
        wait_seconds: 0,
      };
      if (profile) body.secrets_profile = profile;
      if (secretsOwner) body.secrets_account_id = secretsOwner;
      const headers: Record<string, string> = { "X-Payment-Key": secret };
      if (deposit) headers["X-Attached-Deposit"] = deposit;
      for (;;) {
        setProgress("sent; waiting for the result…");
        let call = await api(`/call/${enc(owner)}/${enc(name)}`, { body, headers });
        while (call.status === "pending") {
          setProgress(`running… ${Math.round((Date.now() - began) / 1000)} s (call ${call.call_id})`);
          call = await api(`/calls/${enc(call.call_id)}?wait_seconds=10`, { headers });
        }
        const error = call.result?.error;
        if (error?.type === COMPILING && Date.now() - began < COMPILE_WAIT_MS) {
          const eta = error.compilation?.estimated_seconds;
          setProgress(`compiling the source (estimate ${eta ?? "?"} s; ${Math.round((Date.now() - began) / 1000)} s so far); sending again when it is built…`);
          setAnswer({ kind: "https", call, tokenId: call.token_id });
          await new Promise((r) => setTimeout(r, 1000 * Math.min(Math.max(Number(error.compilation?.retry_after_seconds ?? 3), 1), 5)));
          continue;
        }
        setProgress("");
        setAnswer({ kind: "https", call, tokenId: call.token_id, charged: await money(rpc, call.charged, call.token_id) });
        return call.result?.status === "success" ? `done in ${((Date.now() - began) / 1000).toFixed(1)} s` : `the run failed: ${error?.type}`;
      }
    }
    if (!wallet) throw new Error("sign in to send request_execution (it is signed by your wallet)");
    let codeSource: Record<string, string>;
    if (kind === "project") {
      const found = await rpc.view<any>(config.contractId, "get_project", { project_id: project });
      if (!found) throw new Error(`no project ${project} on chain`);
      const active = found.active ?? {};
      if (!active.code_source) throw new Error(`${project}'s active version is a module checksum; on chain a request names a repository`);
      codeSource = active.code_source;
    } else {
      codeSource = { repo: repo.trim(), [refKind]: ref.trim() };
    }
    const args: Record<string, unknown> = { code_source: codeSource, resource_limits: limits, input_data: input, response_format: format };
    if (profile) args.secrets_ref = { profile, ...(secretsOwner ? { account_id: secretsOwner } : {}) };
    const cost = await rpc.view<string>(config.contractId, "estimate_execution_cost", { resource_limits: limits, input_data: input, include_compilation: true });
    for (;;) {
      setProgress("signing request_execution; waiting for a worker to resolve it on chain…");
      const outcome = await wallet.signAndSend(config.contractId, [functionCall("request_execution", args, BigInt(cost))]);
      const result = outcome.value as any;
      recordRequest(wallet.accountId, { txHash: outcome.txHash, at: Date.now(), source: JSON.stringify(codeSource), result });
      if (result?.error?.type === COMPILING && Date.now() - began < COMPILE_WAIT_MS) {
        setProgress(`compiling (estimate ${result.compilation?.estimated_seconds ?? "?"} s); sending again…`);
        setAnswer({ kind: "chain", result, txHash: outcome.txHash });
        await new Promise((r) => setTimeout(r, 3000));
        continue;
      }
      setProgress("");
      setAnswer({ kind: "chain", result, txHash: outcome.txHash, charged: `${formatUnits(result?.charged ?? "0", 24)} NEAR` });
      return result?.status === "success" ? `resolved on chain in ${((Date.now() - began) / 1000).toFixed(1)} s` : `the run failed: ${result?.error?.type}`;
    }
  });

  const num = (key: keyof Limits) => (e: Event) => setLimits({ ...limits, [key]: Number((e.target as HTMLInputElement).value) });
  return (
    <>
      <h1>Playground</h1>
      <Card title="What to run">
        <form onSubmit={(e) => { e.preventDefault(); run.go(); }}>
          <fieldset>
            <legend>Send it</legend>
            <label class="check"><input type="radio" name="mode" checked={mode === "https"} onChange={() => setMode("https")} /> over HTTPS (a payment key pays)</label>
            <label class="check"><input type="radio" name="mode" checked={mode === "chain"} onChange={() => setMode("chain")} /> on chain: request_execution (your wallet signs and pays)</label>
          </fieldset>
          <fieldset>
            <legend>Source</legend>
            <label class="check"><input type="radio" name="kind" checked={kind === "project"} onChange={() => setKind("project")} /> a project</label>
            <label class="check"><input type="radio" name="kind" checked={kind === "repo"} onChange={() => setKind("repo")} disabled={mode === "https"} /> a repository (on chain)</label>
            {kind === "project" ? (
              <Field id="pg-project" label="Project (OWNER/NAME)">
                <input id="pg-project" value={project} onInput={(e) => setProject((e.target as HTMLInputElement).value)} />
              </Field>
            ) : (
              <>
                <Field id="pg-repo" label="Repository">
                  <input id="pg-repo" value={repo} onInput={(e) => setRepo((e.target as HTMLInputElement).value)} />
                </Field>
                <Field id="pg-refkind" label="At">
                  <select id="pg-refkind" value={refKind} onChange={(e) => setRefKind((e.target as HTMLSelectElement).value as any)}>
                    <option value="commit">commit</option>
                    <option value="branch">branch</option>
                    <option value="tag">tag</option>
                  </select>
                </Field>
                <Field id="pg-ref" label={refKind === "commit" ? "Commit (40 hex)" : refKind === "branch" ? "Branch" : "Tag"}>
                  <input id="pg-ref" value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} />
                </Field>
              </>
            )}
          </fieldset>
          <Field id="pg-input" label="Input (the guest's stdin)">
            <textarea id="pg-input" rows={4} value={input} onInput={(e) => setInput((e.target as HTMLTextAreaElement).value)} />
          </Field>
          <div class="row">
            <Field id="pg-format" label="Output format">
              <select id="pg-format" value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value)}>
                <option value="json">json</option>
                <option value="text">text</option>
                <option value="bytes">bytes (base64)</option>
              </select>
            </Field>
            <Field id="pg-instr" label="Max instructions">
              <input id="pg-instr" type="number" min={1} value={limits.max_instructions} onInput={num("max_instructions")} />
            </Field>
            <Field id="pg-mem" label="Max memory (MB)">
              <input id="pg-mem" type="number" min={1} max={1024} value={limits.max_memory_mb} onInput={num("max_memory_mb")} />
            </Field>
            <Field id="pg-secs" label="Max seconds">
              <input id="pg-secs" type="number" min={1} max={60} value={limits.max_execution_seconds} onInput={num("max_execution_seconds")} />
            </Field>
          </div>
          <div class="row">
            <Field id="pg-profile" label="Secrets profile (optional)">
              <input id="pg-profile" value={profile} onInput={(e) => setProfile((e.target as HTMLInputElement).value)} />
            </Field>
            <Field id="pg-secrets-owner" label="Whose secrets (default: the project's owner; on chain: you)">
              <input id="pg-secrets-owner" value={secretsOwner} placeholder={account} onInput={(e) => setSecretsOwner((e.target as HTMLInputElement).value)} />
            </Field>
          </div>
          {mode === "https" && (
            <div class="row">
              <Field id="pg-key" label="Payment key">
                <select id="pg-key" value={keyNonce} onChange={(e) => setKeyNonce((e.target as HTMLSelectElement).value)}>
                  {Object.keys(keys).map((n) => <option value={n}>key {n} (kept in this browser)</option>)}
                  <option value="">another (paste it)</option>
                </select>
              </Field>
              {!keyNonce && (
                <Field id="pg-key-secret" label="Payment key secret (olk_…)">
                  <input id="pg-key-secret" type="password" autoComplete="off" value={pastedKey} onInput={(e) => setPastedKey((e.target as HTMLInputElement).value)} />
                </Field>
              )}
              <Field id="pg-deposit" label="Pay the owner (X-Attached-Deposit, stablecoin units)">
                <input id="pg-deposit" inputMode="numeric" placeholder="250000 = 0.25 USD" value={deposit} onInput={(e) => setDeposit((e.target as HTMLInputElement).value)} />
              </Field>
            </div>
          )}
          <div class="buttons">
            <button type="button" onClick={() => estimate.go()} disabled={estimate.busy}>Estimate the cost</button>
            <button type="submit" disabled={run.busy}>{mode === "https" ? "Call over HTTPS" : "Sign and send request_execution"}</button>
          </div>
        </form>
        <Status {...estimate} busyText="estimating…" />
        {run.busy && <p class="note" role="status" aria-live="polite">{progress || "working…"}</p>}
        <Status error={run.error} done={run.done} />
      </Card>
      {answer && <Result answer={answer} />}
    </>
  );
}

function Result({ answer }: { answer: any }) {
  const result = answer.kind === "https" ? answer.call.result : answer.result;
  if (!result) return null;
  const output = result.output;
  return (
    <Card title="Result">
      <dl class="facts" data-testid="result">
        <dt>Status</dt><dd data-testid="result-status">{result.status}</dd>
        {result.error && (<><dt>Error</dt><dd class="error">{result.error.type}: {result.error.message}</dd></>)}
        {answer.kind === "https" ? (
          <><dt>Call</dt><dd><a href={`#/executions/${encodeURIComponent(answer.call.call_id)}`} data-testid="result-call">{answer.call.call_id}</a></dd></>
        ) : (
          <><dt>Transaction</dt><dd><code>{answer.txHash}</code> (request {result.request_id})</dd></>
        )}
        {answer.charged && (<><dt>Cost</dt><dd data-testid="result-cost">{answer.charged}</dd></>)}
        <dt>Instructions</dt><dd>{result.resources_used?.instructions ?? "—"}</dd>
        <dt>Time</dt><dd>{result.resources_used?.time_ms ?? "—"} ms{result.resources_used?.compile_ms ? ` (+ ${result.resources_used.compile_ms} ms compiling)` : ""}</dd>
        {result.resources_used?.memory_bytes !== undefined && (<><dt>Memory</dt><dd>{Math.round(result.resources_used.memory_bytes / 1024)} KiB</dd></>)}
      </dl>
      <h3>Output</h3>
      <pre data-testid="result-output">{typeof output === "string" ? output : JSON.stringify(output, null, 2)}</pre>
      <h3>Logs</h3>
      <pre>{result.logs || "(none)"}</pre>
    </Card>
  );
}

