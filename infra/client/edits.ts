/**
 * `profs edits create|list|show|events|cancel|download`: edit jobs from the terminal. `create --follow` and
 * `show --follow` follow the job's SSE stream (reconnecting with Last-Event-ID) with one progress bar per stage
 * and end with the job's final state; `download` resumes a partial file with Range and checks its sha256.
 */
import { join } from "node:path";
import type { z } from "zod";
import type {
  EditPage as EditPageSchema,
  EditView,
  JobEvent,
  JobEventList as JobEventListSchema,
} from "../../shared/contracts/edits.ts";

type EditPage = z.infer<typeof EditPageSchema>;
type JobEventList = z.infer<typeof JobEventListSchema>;
import { editParamsFromFlags } from "../../shared/contracts/edit_params.ts";
import { InputError } from "../../shared/errors.ts";
import { NO_PROGRESS, type ProgressSink, terminalProgress } from "../../shared/progress.ts";
import { action, intFlag, operands, parse, service, str } from "./common.ts";
import { ensureOk, type Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";
import { readSse } from "./sse.ts";
import { sha256File } from "./models.ts";

export const USAGE = `usage: profs edits <create|list|show|events|cancel|download> [options]

  profs edits create --model ID --dataset ID [--rank N] [--layers FROM:TO] [--max-pairs N] [--seed N]
                     [--max-tokens N] [--no-centering] [--holdout SHARE] [--base-model NAME] [--check]
                     [--idempotency-key K] [--follow]
        start an edit; prints its id (or, with --follow, its progress and then its final state); the
        parameters are profs edit's (--check: also check base and edited model, figures in its report)
  profs edits list [--status S] [--limit N]
  profs edits show ID [--follow]
  profs edits events ID [--after SEQ]
  profs edits cancel ID
  profs edits download ID [--out DIR] [--artifact NAME]
        every artifact (or one) into DIR (default edit-ID): a partial file resumes with Range, a complete one
        is kept, and each is checked against its sha256

every command: --json. Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

export async function run(args: string[]): Promise<void> {
  const p = parse(args, {
    model: { type: "string" },
    dataset: { type: "string" },
    rank: { type: "string" },
    layers: { type: "string" },
    "max-pairs": { type: "string" },
    seed: { type: "string" },
    "max-tokens": { type: "string" },
    "no-centering": { type: "boolean" },
    holdout: { type: "string" },
    "base-model": { type: "string" },
    check: { type: "boolean" },
    "idempotency-key": { type: "string" },
    follow: { type: "boolean", short: "f" },
    status: { type: "string" },
    limit: { type: "string" },
    after: { type: "string" },
    out: { type: "string", short: "o" },
    artifact: { type: "string" },
  }, USAGE);
  if (!p) return;
  const act = action(
    "edits",
    p.positionals,
    ["create", "list", "show", "events", "cancel", "download"],
    USAGE,
  );
  const api = await service();
  const v = p.values;
  const progress = p.json ? NO_PROGRESS : terminalProgress();
  if (act === "create") {
    operands(p.positionals, [], "create an edit");
    const model = str(v.model), dataset = str(v.dataset);
    if (!model || !dataset) {
      throw new InputError(
        "Cannot create an edit as '--model' and '--dataset' must be given: one is missing",
      );
    }
    const params = editParamsFromFlags({
      layers: str(v.layers),
      rank: str(v.rank),
      centering: v["no-centering"] ? false : undefined,
      max_pairs: str(v["max-pairs"]),
      seed: str(v.seed),
      max_tokens: str(v["max-tokens"]),
      holdout: str(v.holdout),
      base_model: str(v["base-model"]),
      check: v.check === true ? true : undefined,
    });
    const key = str(v["idempotency-key"]);
    const edit = await api.json<EditView>("/v1/edits", {
      method: "POST",
      data: { model_id: model, dataset_id: dataset, params },
      headers: key ? { "Idempotency-Key": key } : {},
    });
    if (!v.follow) {
      if (p.json) printJson(edit);
      else console.log(edit.id);
      return;
    }
    if (!p.json) note(`edit ${edit.id} queued`);
    finish(await followEdit(api, edit.id, { progress, log: p.json ? () => {} : note }), p.json);
  } else if (act === "list") {
    operands(p.positionals, [], "list edits");
    const query = new URLSearchParams({ limit: String(intFlag(v.limit, "--limit", 1, 100) ?? 20) });
    if (str(v.status)) query.set("status", str(v.status)!);
    const page = await api.json<EditPage>(`/v1/edits?${query}`);
    if (p.json) printJson(page);
    else {
      console.log(table(
        ["ID", "STATUS", "MODEL", "DATASET", "PROGRESS", "CREATED"],
        page.data.map((e) => [e.id, e.status, e.model_id, e.dataset_id, progressText(e), e.created_at]),
      ));
    }
  } else if (act === "show") {
    const [id] = operands(p.positionals, ["ID"], "show an edit");
    const edit = v.follow
      ? await followEdit(api, id, { progress, log: p.json ? () => {} : note })
      : await api.json<EditView>(`/v1/edits/${encodeURIComponent(id)}`);
    if (p.json) printJson(edit);
    else console.log(describeEdit(edit));
  } else if (act === "events") {
    const [id] = operands(p.positionals, ["ID"], "list an edit's events");
    const after = intFlag(v.after, "--after", 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const events = await allEvents(api, id, after);
    if (p.json) printJson({ data: events });
    else for (const e of events) console.log(eventLine(e));
  } else if (act === "cancel") {
    const [id] = operands(p.positionals, ["ID"], "cancel an edit");
    const edit = await api.json<EditView>(`/v1/edits/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    if (p.json) printJson(edit);
    else {note(
        `edit ${edit.id}: ${edit.status}${
          edit.cancel_requested && edit.status === "running" ? " (cancel requested)" : ""
        }`,
      );}
  } else {
    const [id] = operands(p.positionals, ["ID"], "download an edit's artifacts");
    const files = await downloadEdit(api, id, {
      out: str(v.out) ?? `edit-${id}`,
      artifact: str(v.artifact),
      progress,
      log: p.json ? () => {} : note,
    });
    if (p.json) printJson({ data: files });
    else for (const f of files) console.log(f.path);
  }
}

/** Prints the followed edit; an edit that did not succeed makes the command fail (exit 1) with its error. */
function finish(edit: EditView, json: boolean): void {
  if (json) printJson(edit);
  else console.log(describeEdit(edit));
  if (edit.status !== "succeeded") {
    throw new InputError(`edit ${edit.id} ${edit.status}${edit.error ? `: ${edit.error.message}` : ""}`);
  }
}

export function progressText(e: Pick<EditView, "progress">): string {
  return e.progress ? `${e.progress.stage} ${e.progress.done}/${e.progress.total}` : "-";
}

export function describeEdit(e: EditView): string {
  const lines = [`${e.id}  ${e.status}  model ${e.model_id ?? "-"}  dataset ${e.dataset_id ?? "-"}`];
  if (e.progress && !TERMINAL.has(e.status)) lines.push(`  progress: ${progressText(e)}`);
  if (e.error) lines.push(`  error: ${e.error.message}`);
  for (const layer of e.result?.layers ?? []) {
    const tokens = (layer.top_tokens[0] ?? []).slice(0, 5).map((t) => t.token.trim()).join(" ");
    lines.push(
      `  layer ${layer.layer}: σ ${layer.singular_values.map((s) => s.toPrecision(3)).join(", ")}  ${tokens}`,
    );
  }
  for (const a of e.artifacts) lines.push(`  artifact ${a.name} (${a.size} bytes)`);
  return lines.join("\n");
}

export function eventLine(e: JobEvent): string {
  const data = Object.keys(e.data).length ? " " + JSON.stringify(e.data) : "";
  return `${e.seq}\t${e.at}\t${e.type}${data}`;
}

export async function allEvents(
  api: Http,
  id: string,
  after: number,
  collection: "edits" | "tunes" = "edits",
): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for (;;) {
    const page = await api.json<JobEventList>(
      `/v1/${collection}/${encodeURIComponent(id)}/events?after=${after}`,
    );
    out.push(...page.data);
    if (!page.has_more || page.data.length === 0) return out;
    after = page.data[page.data.length - 1].seq;
  }
}

/**
 * Follows a job's SSE stream until its terminal event, drawing progress; reconnects (Last-Event-ID) when the
 * stream drops before the end. Returns the job as it stands at the end. `kind` is the collection.
 */
export async function followEdit(
  api: Http,
  id: string,
  o: {
    progress?: ProgressSink;
    log?: (line: string) => void;
    kind?: "edits" | "checks" | "tunes";
    /** A line for events other than progress and the job's states (e.g. a tune's trials). */
    line?: (event: JobEvent) => string | undefined;
  } = {},
): Promise<EditView> {
  const progress = o.progress ?? NO_PROGRESS;
  const log = o.log ?? (() => {});
  const collection = o.kind ?? "edits";
  let last = "0";
  for (let tries = 0; tries < 30; tries++) {
    const response = await api.fetch(`/v1/${collection}/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream", "Last-Event-ID": last },
    });
    await ensureOk(response, `follow ${id}`);
    let ended = false;
    try {
      for await (const message of readSse(response.body!)) {
        if (message.id) last = message.id;
        const event = JSON.parse(message.data) as JobEvent;
        if (event.type === "progress") {
          const d = event.data as { stage: string; done: number; total: number };
          progress.update(d.stage, d.done, d.total);
        } else if (o.line?.(event) !== undefined) {
          progress.end();
          log(o.line(event)!);
        } else {
          progress.end();
          log(
            `${event.type}${
              event.type === "failed" || event.type === "retrying" ? `: ${JSON.stringify(event.data)}` : ""
            }`,
          );
        }
        if (TERMINAL.has(event.type)) ended = true;
      }
    } catch (error) {
      if (!(error instanceof TypeError)) throw error; // a dropped connection: reconnect below
    }
    if (ended) break;
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** tries)));
  }
  progress.end();
  return await api.json<EditView>(`/v1/${collection}/${encodeURIComponent(id)}`);
}

export interface Downloaded {
  name: string;
  path: string;
  size: number;
  sha256: string | null;
  /** resumed from this many bytes already on disk; null when fetched whole or already complete */
  resumed_from: number | null;
  skipped: boolean;
}

/** Downloads an edit's artifacts into `out`, resuming partial files with Range and checking each sha256. */
export async function downloadEdit(
  api: Http,
  id: string,
  o: {
    out: string;
    artifact?: string;
    progress?: ProgressSink;
    log?: (line: string) => void;
    /** The collection (default edits; a tune's artifacts are the chosen edit's and tune.json). */
    kind?: "edits" | "tunes";
  },
): Promise<Downloaded[]> {
  const progress = o.progress ?? NO_PROGRESS;
  const log = o.log ?? (() => {});
  const collection = o.kind ?? "edits";
  const edit = await api.json<Pick<EditView, "artifacts">>(`/v1/${collection}/${encodeURIComponent(id)}`);
  const artifacts = edit.artifacts.filter((a) => !o.artifact || a.name === o.artifact);
  if (o.artifact && artifacts.length === 0) {
    throw new InputError(
      `Cannot download '${o.artifact}' as it must be an artifact of ${
        collection.slice(0, -1)
      } ${id}: it has ` +
        `${edit.artifacts.map((a) => a.name).join(", ") || "none"}`,
    );
  }
  await Deno.mkdir(o.out, { recursive: true });
  const out: Downloaded[] = [];
  for (const a of artifacts) {
    const path = join(o.out, a.name);
    const have = await Deno.stat(path).then((s) => s.size, () => 0);
    if (have === a.size && (a.sha256 === null || await sha256File(path) === a.sha256)) {
      log(`skip ${a.name}: complete`);
      out.push({ name: a.name, path, size: a.size, sha256: a.sha256, resumed_from: null, skipped: true });
      continue;
    }
    const resume = have > 0 && have < a.size ? have : 0;
    const response = await api.fetch(
      `/v1/${collection}/${encodeURIComponent(id)}/artifacts/${encodeURIComponent(a.name)}`,
      {
        headers: resume
          ? { Range: `bytes=${resume}-`, ...(a.sha256 ? { "If-Range": `"${a.sha256}"` } : {}) }
          : {},
      },
    );
    await ensureOk(response, `download ${a.name}`);
    const partial = response.status === 206;
    const file = await Deno.open(path, { write: true, create: true, truncate: !partial, append: partial });
    let done = partial ? resume : 0;
    await response.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          done += chunk.byteLength;
          progress.update(a.name, done, a.size, "B");
          controller.enqueue(chunk);
        },
      }),
    ).pipeTo(file.writable);
    progress.end();
    const sha = await sha256File(path);
    if (a.sha256 !== null && sha !== a.sha256) {
      await Deno.remove(path);
      throw new InputError(
        `Cannot keep '${a.name}' as its sha256 must be ${a.sha256}: it is ${sha} (removed; download again)`,
      );
    }
    log(`${partial ? `resumed ${a.name} from byte ${resume}` : `downloaded ${a.name}`}`);
    out.push({
      name: a.name,
      path,
      size: a.size,
      sha256: a.sha256,
      resumed_from: partial ? resume : null,
      skipped: false,
    });
  }
  return out;
}
