/**
 * `profs models upload DIR | import ORG/NAME | list | show ID | delete ID`: a model folder to the service, in
 * parallel and resumable (a file the model already holds with the same size and sha256 is skipped), then
 * finalized; or a Hub model imported by the service itself (`POST /v1/models` with `source.hub`), followed
 * until ready with `--follow`.
 */
import { basename, join } from "node:path";
import { createHash } from "node:crypto";
import type { z } from "zod";
import type { ModelPage as ModelPageSchema, ModelView } from "../../shared/contracts/models.ts";

type ModelPage = z.infer<typeof ModelPageSchema>;
import { MODEL_FILE_NAME } from "../../shared/contracts/models.ts";
import { InputError } from "../../shared/errors.ts";
import { fetchHubModel } from "../../shared/model/hub.ts";
import { bytes, NO_PROGRESS, type ProgressSink, terminalProgress } from "../../shared/progress.ts";
import { action, intFlag, operands, parse, service, str } from "./common.ts";
import { ensureOk, type Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";

export const USAGE = `usage: profs models <upload|list|show|delete> [options]

  profs models upload DIR [--name NAME] [--id MODEL_ID] [--parallel N]
        upload a Hugging Face model folder (*.json, *.safetensors) and finalize it. Resumes: into --id, else
        into a pending model of the same name; files already stored with the same size and sha256 are skipped
  profs models import ORG/NAME [--revision REV] [--name NAME] [--follow]
        the service imports the model from the Hugging Face Hub (its HF_ENDPOINT and HF_TOKEN): prints the
        model's id at once; --follow shows the download and waits until the model is ready (or says why not)
  profs models import ORG/NAME --local [--revision REV] [--name NAME]
        fetch the files here instead (HF_ENDPOINT, HF_TOKEN; cached in the Hub's cache layout under HF_HOME)
        and upload them as above, for a service that cannot reach the Hub
  profs models list [--limit N]
  profs models show ID
  profs models delete ID

every command: --json (the API's JSON on stdout). Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

const ACTIONS = ["upload", "import", "list", "show", "delete"] as const;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, {
    name: { type: "string" },
    id: { type: "string" },
    parallel: { type: "string" },
    limit: { type: "string" },
    revision: { type: "string" },
    follow: { type: "boolean" },
    local: { type: "boolean" },
  }, USAGE);
  if (!p) return;
  const act = action("models", p.positionals, ACTIONS, USAGE);
  const api = await service();
  if (act === "upload") {
    const [dir] = operands(p.positionals, ["DIR"], "upload a model");
    const model = await uploadModel(api, dir, {
      name: str(p.values.name),
      id: str(p.values.id),
      parallel: intFlag(p.values.parallel, "--parallel", 1, 16) ?? 3,
      progress: p.json ? NO_PROGRESS : terminalProgress(),
      log: p.json ? () => {} : note,
    });
    if (p.json) printJson(model);
    else console.log(model.id);
  } else if (act === "import" && !p.values.local) {
    const [repo] = operands(p.positionals, ["ORG/NAME"], "import a model");
    let model = await api.json<ModelView>("/v1/models", {
      method: "POST",
      data: { name: str(p.values.name), source: { hub: repo, revision: str(p.values.revision) ?? "main" } },
    });
    if (!p.json) note(`importing ${repo} into model ${model.id}`);
    if (p.values.follow) {
      model = await followImport(api, model.id, p.json ? NO_PROGRESS : terminalProgress());
      if (!p.json) note(`model ${model.id} is ${model.status}`);
    }
    if (p.json) printJson(model);
    else console.log(model.id);
  } else if (act === "import") {
    const [repo] = operands(p.positionals, ["ORG/NAME"], "import a model");
    const progress = p.json ? NO_PROGRESS : terminalProgress();
    const log = p.json ? () => {} : note;
    const dir = await fetchHubModel(repo, str(p.values.revision) ?? "main", {
      onProgress: (file, done, total) => progress.update(file, done, total, "B"),
      log,
    });
    progress.end();
    const model = await uploadModel(api, dir, {
      name: str(p.values.name) ?? repo,
      parallel: intFlag(p.values.parallel, "--parallel", 1, 16) ?? 3,
      progress,
      log,
    });
    if (p.json) printJson(model);
    else console.log(model.id);
  } else if (act === "list") {
    operands(p.positionals, [], "list models");
    const page = await api.json<ModelPage>(
      `/v1/models?limit=${intFlag(p.values.limit, "--limit", 1, 100) ?? 20}`,
    );
    if (p.json) printJson(page);
    else {
      console.log(table(
        ["ID", "NAME", "STATUS", "FAMILY", "LAYERS", "CREATED"],
        page.data.map((
          m,
        ) => [m.id, m.name, m.status, m.summary?.family, m.summary?.num_layers, m.created_at]),
      ));
    }
  } else if (act === "show") {
    const [id] = operands(p.positionals, ["ID"], "show a model");
    const model = await api.json<ModelView>(`/v1/models/${encodeURIComponent(id)}`);
    if (p.json) printJson(model);
    else console.log(describeModel(model));
  } else {
    const [id] = operands(p.positionals, ["ID"], "delete a model");
    await api.json(`/v1/models/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (p.json) printJson({ id, deleted: true });
    else note(`deleted model ${id}`);
  }
}

/**
 * Polls the model until its import settles: the ready model, or an InputError with the import's reason (a repo
 * the Hub refused, an invalid file, …). Progress is bytes fetched (`downloading`), then `validating`.
 */
export async function followImport(
  api: Http,
  id: string,
  progress: ProgressSink,
  pollMs = 500,
): Promise<ModelView> {
  for (;;) {
    const model = await api.json<ModelView>(`/v1/models/${encodeURIComponent(id)}`);
    const job = model.import;
    if (job?.progress) {
      const { stage, done, total } = job.progress;
      progress.update(stage, done, total, stage === "downloading" ? "B" : undefined);
    }
    if (model.status === "ready") {
      progress.end();
      return model;
    }
    if (model.status === "invalid" || job === null || ["failed", "canceled"].includes(job.status)) {
      progress.end();
      const why = job?.error || model.errors.join("; ") || `the import is ${job?.status ?? "gone"}`;
      throw new InputError(`Cannot import model '${id}' (${job?.hub ?? model.name}): ${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function describeModel(m: ModelView): string {
  const lines = [`${m.id}  ${m.name}  ${m.status}`];
  if (m.import) {
    const p = m.import.progress;
    lines.push(
      `  import ${m.import.hub}@${m.import.revision}: ${m.import.status}` +
        (p ? ` (${p.stage} ${p.stage === "downloading" ? bytes(p.done) : `${p.done}/${p.total}`})` : "") +
        (m.import.error ? ` — ${m.import.error}` : ""),
    );
  }
  if (m.summary) {
    lines.push(
      `  ${m.summary.family}, ${m.summary.num_layers} layers, hidden ${m.summary.hidden_size}, ` +
        `default layers ${m.summary.default_layers.from}:${m.summary.default_layers.to}, sha256 ${m.summary.sha256}`,
    );
  }
  for (const f of m.files) lines.push(`  ${f.name}  ${bytes(f.size)}  ${f.sha256}`);
  for (const e of m.errors) lines.push(`  error: ${e}`);
  return lines.join("\n");
}

export interface UploadOptions {
  name?: string;
  id?: string;
  parallel?: number;
  progress?: ProgressSink;
  log?: (line: string) => void;
}

/** Creates (or resumes) a model, PUTs the folder's files not yet stored, finalizes; returns the ready model. */
export async function uploadModel(api: Http, dir: string, o: UploadOptions = {}): Promise<ModelView> {
  const log = o.log ?? (() => {});
  const progress = o.progress ?? NO_PROGRESS;
  const files = await modelFiles(dir);
  const name = o.name ?? basename(dir.replace(/\/+$/, ""));
  let model: ModelView;
  if (o.id) {
    model = await api.json<ModelView>(`/v1/models/${encodeURIComponent(o.id)}`);
  } else {
    const page = await api.json<ModelPage>(`/v1/models?limit=100`);
    const pending = page.data.find((m) => m.name === name && m.status !== "ready");
    model = pending ?? await api.json<ModelView>("/v1/models", { method: "POST", data: { name } });
    log(pending ? `resuming model ${model.id} (${name})` : `created model ${model.id} (${name})`);
  }
  if (model.status === "ready") {
    log(`model ${model.id} is already ready`);
    return model;
  }
  const stored = new Map(model.files.map((f) => [f.name, f]));
  const todo: { name: string; path: string; size: number }[] = [];
  for (const f of files) {
    const have = stored.get(f.name);
    if (have && have.size === f.size && have.sha256 === await sha256File(f.path)) {
      log(`skip ${f.name}: already stored (same size and sha256)`);
      continue;
    }
    todo.push(f);
  }
  const total = todo.reduce((s, f) => s + f.size, 0);
  let sent = 0;
  const queue = [...todo];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const file = await Deno.open(f.path);
      const counted = file.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            sent += chunk.byteLength;
            progress.update("upload", sent, total, "B");
            controller.enqueue(chunk);
          },
        }),
      );
      const response = await api.fetch(
        `/v1/models/${model.id}/files/${encodeURIComponent(f.name)}`,
        { method: "PUT", body: counted, headers: { "content-type": "application/octet-stream" } },
      );
      await ensureOk(response, `PUT ${f.name}`);
      await response.body?.cancel();
      log(`uploaded ${f.name} (${bytes(f.size)})`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel ?? 3, Math.max(1, todo.length)) }, worker));
  progress.end();
  const finalized = await api.json<ModelView>(`/v1/models/${model.id}/finalize`, { method: "POST" });
  log(`model ${finalized.id} is ${finalized.status}`);
  return finalized;
}

/** The files of a model folder the service takes: flat names ending in .json or .safetensors. */
export async function modelFiles(dir: string): Promise<{ name: string; path: string; size: number }[]> {
  const out = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !/\.(json|safetensors)$/.test(entry.name) || !MODEL_FILE_NAME.test(entry.name)) {
        continue;
      }
      const path = join(dir, entry.name);
      out.push({ name: entry.name, path, size: (await Deno.stat(path)).size });
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError(`Cannot upload '${dir}' as it must be a model folder: it does not exist`);
    }
    throw error;
  }
  if (!out.some((f) => f.name === "config.json")) {
    throw new InputError(`Cannot upload '${dir}' as it must be a model folder: it has no config.json`);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** sha256 of a file, streamed (a model file may be larger than memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}
