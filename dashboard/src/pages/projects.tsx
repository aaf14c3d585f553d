import { useState } from "preact/hooks";
import { formatUnits, functionCall, NEAR } from "../near";
import { money } from "../store";
import { Card, ConfirmButton, Field, Loading, NeedsSignIn, Status, Table, useAction, useApp, useLoad, whenNs } from "../ui";

const STORAGE_DEPOSIT = NEAR / 10n;
const NAME = /^[a-z0-9][a-z0-9\-_.]{0,63}$/;

interface Source {
  kind: "commit" | "branch" | "tag" | "wasm";
  repo: string;
  ref: string;
}

/** The contract's code_source or wasm_sha256 from the form, or a clear error. */
function sourceArgs(s: Source): Record<string, unknown> {
  if (s.kind === "wasm") {
    if (!/^[0-9a-f]{64}$/.test(s.ref.trim())) throw new Error("a module checksum is 64 lowercase hex characters (SHA-256)");
    return { wasm_sha256: s.ref.trim() };
  }
  const repo = s.repo.trim();
  if (!/^https:\/\/github\.com\/[^/\s]+\/[^/\s]+$/.test(repo)) throw new Error("the repository must be https://github.com/OWNER/REPO");
  if (s.kind === "commit" && !/^[0-9a-f]{40}$/.test(s.ref.trim())) throw new Error("a commit is 40 lowercase hex characters");
  if (!s.ref.trim()) throw new Error(`give the ${s.kind}`);
  return { code_source: { repo, [s.kind]: s.ref.trim() } };
}

function SourceFields({ id, value, onChange }: { id: string; value: Source; onChange: (s: Source) => void }) {
  return (
    <div class="row">
      <Field id={`${id}-kind`} label="Code">
        <select id={`${id}-kind`} value={value.kind} onChange={(e) => onChange({ ...value, kind: (e.target as HTMLSelectElement).value as Source["kind"] })}>
          <option value="commit">repository at a commit</option>
          <option value="branch">repository at a branch</option>
          <option value="tag">repository at a tag</option>
          <option value="wasm">a module's SHA-256</option>
        </select>
      </Field>
      {value.kind !== "wasm" && (
        <Field id={`${id}-repo`} label="Repository">
          <input id={`${id}-repo`} placeholder="https://github.com/OWNER/REPO" value={value.repo} onInput={(e) => onChange({ ...value, repo: (e.target as HTMLInputElement).value })} />
        </Field>
      )}
      <Field id={`${id}-ref`} label={value.kind === "wasm" ? "SHA-256 (64 hex)" : value.kind === "commit" ? "Commit (40 hex)" : value.kind === "branch" ? "Branch" : "Tag"}>
        <input id={`${id}-ref`} value={value.ref} onInput={(e) => onChange({ ...value, ref: (e.target as HTMLInputElement).value })} />
      </Field>
    </div>
  );
}

export function Projects() {
  return (
    <>
      <h1>Projects</h1>
      <p class="lead">A project is OWNER/NAME: a repository (or a module) with versions; a call runs its active version.</p>
      <NeedsSignIn>
        <MyProjects />
      </NeedsSignIn>
    </>
  );
}

function MyProjects() {
  const { wallet, rpc, config } = useApp();
  const account = wallet!.accountId;
  const projects = useLoad(async () => {
    const list = await rpc.view<any[]>(config.contractId, "list_user_projects", { account_id: account });
    return Promise.all(
      list.map(async (p) => ({ ...p, versionList: await rpc.view<any[]>(config.contractId, "list_versions", { project_id: p.project_id }) })),
    );
  }, [account]);
  const [name, setName] = useState("");
  const [source, setSource] = useState<Source>({ kind: "branch", repo: "https://github.com/outlayer-examples/echo-json", ref: "main" });
  const create = useAction(async () => {
    if (!NAME.test(name)) throw new Error("a name is 1 to 64 of a-z 0-9 - _ . starting with a letter or digit");
    const outcome = await wallet!.signAndSend(config.contractId, [functionCall("create_project", { name, ...sourceArgs(source) }, STORAGE_DEPOSIT)]);
    const v = outcome.value as any;
    projects.reload();
    setName("");
    return `created ${v.project_id}; storage held ${await money(rpc, v.storage_deposit, "near")}, ${await money(rpc, v.refunded, "near")} came back`;
  });
  const [notice, setNotice] = useState("");
  return (
    <>
      <Card title="Create a project">
        <form onSubmit={(e) => { e.preventDefault(); create.go(); }}>
          <Field id="proj-name" label="Name">
            <input id="proj-name" value={name} placeholder="hello" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </Field>
          <SourceFields id="proj-src" value={source} onChange={setSource} />
          <button type="submit" disabled={create.busy}>Create (signs create_project)</button>
        </form>
        <Status {...create} busyText="signing and sending create_project…" />
      </Card>
      <Card title="Your projects">
        <Loading {...projects} />
        {projects.data && !projects.data.length && <p class="note">No projects yet.</p>}
        <Status done={notice} />
        {projects.data?.map((p) => (
          <ProjectCard key={p.project_id} project={p} onChange={(message?: string) => { setNotice(message ?? ""); projects.reload(); }} />
        ))}
      </Card>
    </>
  );
}

function ProjectCard({ project: p, onChange }: { project: any; onChange: (message?: string) => void }) {
  const { wallet, config } = useApp();
  const [source, setSource] = useState<Source>({ kind: "branch", repo: p.versionList?.[0]?.code_source?.repo ?? "", ref: "main" });
  const [activate, setActivate] = useState(true);
  const send = (method: string, args: unknown, deposit = 0n) => wallet!.signAndSend(config.contractId, [functionCall(method, args, deposit)]);
  const add = useAction(async () => {
    const v = (await send("add_version", { name: p.name, ...sourceArgs(source), activate }, STORAGE_DEPOSIT)).value as any;
    onChange();
    return `added version ${v.version}; active: ${v.active_version}`;
  });
  const setActive = useAction(async (version: number) => {
    await send("set_active_version", { name: p.name, version });
    onChange();
    return `version ${version} is active`;
  });
  const remove = useAction(async () => {
    const v = (await send("delete_project", { name: p.name })).value as any;
    const message = `deleted ${p.project_id}; ${formatUnits(v?.refunded ?? "0", 24)} NEAR of storage came back`;
    onChange(message); // this card goes: the list says it
    return message;
  });
  return (
    <article class="item" aria-label={`project ${p.project_id}`}>
      <h3>{p.project_id} <small>active version {p.active_version}</small></h3>
      <Table
        caption={`versions of ${p.project_id}`}
        head={["version", "code", "created", ""]}
        rows={(p.versionList ?? []).map((v: any) => [
          v.version,
          v.wasm_sha256 ? <code>{v.wasm_sha256.slice(0, 16)}…</code> : <span>{v.code_source.repo} @ {v.code_source.commit ?? v.code_source.branch ?? v.code_source.tag}</span>,
          whenNs(v.created_at),
          v.version === p.active_version ? <span class="badge good">active</span> : <button onClick={() => setActive.go(v.version)} disabled={setActive.busy}>Activate</button>,
        ])}
      />
      <Status {...setActive} busyText="signing set_active_version…" />
      <details>
        <summary>Add a version</summary>
        <form onSubmit={(e) => { e.preventDefault(); add.go(); }}>
          <SourceFields id={`ver-${p.name}`} value={source} onChange={setSource} />
          <label class="check"><input type="checkbox" checked={activate} onChange={(e) => setActivate((e.target as HTMLInputElement).checked)} /> make it the active version</label>
          <button type="submit" disabled={add.busy}>Add version</button>
        </form>
        <Status {...add} busyText="signing add_version…" />
      </details>
      <div class="buttons">
        <a href={`#/playground`}>Run it in the playground</a>
        <ConfirmButton label="Delete project" confirm={`Delete ${p.project_id} and all its versions? Its storage comes back.`} disabled={remove.busy} onConfirm={() => remove.go()} />
      </div>
      <Status {...remove} busyText="signing delete_project…" />
    </article>
  );
}
