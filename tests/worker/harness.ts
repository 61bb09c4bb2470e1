/**
 * End-to-end fixtures for worker tests: the real API served over HTTP on a loopback port (tests/api/harness.ts
 * underneath: a fresh database and a temporary blob directory), a tiny GPT-2 folder and preference pairs on disk,
 * and small clients that upload them, submit edits and poll them the way a user would.
 */
import type { EditResult } from "../../shared/contracts/edits.ts";
import { join } from "node:path";
import { createHarness, type Harness } from "../api/harness.ts";
import type { ApiConfig } from "../../api/deps.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { waitFor } from "../helpers/wait_for.ts";

export interface Served extends Harness {
  base: string;
  /** fetch against the served API with tenant A's key */
  call(path: string, init?: RequestInit): Promise<Response>;
}

export async function serveApi(
  options: { url?: string; blobs?: BlobStore; config?: Partial<ApiConfig> } = {},
): Promise<Served> {
  const h = await createHarness({ ...options, listen: { host: "127.0.0.1", port: 0 } });
  const base = h.url!;
  return {
    ...h,
    base,
    call: (path, init = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { ...h.keyA, ...(init.headers ?? {}) } }),
  };
}

export interface Inputs {
  dir: string;
  modelDir: string;
  pairsFile: string;
}

/** A tiny GPT-2 folder and a pairs file in a fresh temporary directory. */
export async function writeInputs(
  options: { layers?: number; hidden?: number; pairs?: number; seed?: number } = {},
): Promise<Inputs> {
  const dir = await Deno.makeTempDir({ prefix: "profs-worker-test-" });
  const modelDir = join(dir, "model");
  await writeTinyGpt2(modelDir, {
    layers: options.layers ?? 2,
    hidden: options.hidden ?? 24,
    seed: options.seed,
  });
  const pairsFile = join(dir, "pairs.jsonl");
  await Deno.writeTextFile(pairsFile, pairsJsonl(options.pairs ?? 6));
  return { dir, modelDir, pairsFile };
}

/** Pairs whose two sides differ in wording, so the preference matrix has a real direction. */
export function pairsJsonl(n: number): string {
  const nice = ["thank you so much", "what a lovely day", "I appreciate it", "have a good one"];
  const rude = ["you stupid idiot", "shut up fool", "this is garbage trash", "go away loser"];
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      preferred: `${nice[i % nice.length]} number ${i}`,
      rejected: `${rude[i % rude.length]} number ${i}`,
    })).join("\n") + "\n";
}

/** Uploads every file of `dir` as a model and finalizes it; returns the model id. */
export async function uploadModel(s: Served, dir: string): Promise<string> {
  const created = await s.call("/v1/models", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "tiny" }),
  });
  if (created.status !== 201) throw new Error(`create model: ${created.status} ${await created.text()}`);
  const { id } = await created.json() as { id: string };
  for (const entry of Deno.readDirSync(dir)) {
    const put = await s.call(`/v1/models/${id}/files/${entry.name}`, {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream" },
      body: await Deno.readFile(join(dir, entry.name)),
    });
    if (put.status !== 201) throw new Error(`upload ${entry.name}: ${put.status} ${await put.text()}`);
  }
  const finalized = await s.call(`/v1/models/${id}/finalize`, { method: "POST" });
  if (finalized.status !== 200) throw new Error(`finalize: ${finalized.status} ${await finalized.text()}`);
  return id;
}

export async function uploadPairs(s: Served, file: string): Promise<string> {
  const response = await s.call("/v1/datasets?name=pairs", {
    method: "POST",
    headers: { "Content-Type": "application/x-ndjson" },
    body: await Deno.readFile(file),
  });
  if (response.status !== 201) throw new Error(`dataset: ${response.status} ${await response.text()}`);
  return (await response.json() as { id: string }).id;
}

export interface EditView {
  id: string;
  status: string;
  attempts: number;
  error: { message: string } | null;
  progress: { stage: string; done: number; total: number } | null;
  result: EditResult | null;
  artifacts: { name: string; size: number; sha256: string; url: string }[];
}

export async function submitEdit(
  s: Served,
  body: { model_id: string; dataset_id: string; params?: Record<string, unknown> },
): Promise<EditView> {
  const response = await s.call("/v1/edits", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`submit: ${response.status} ${await response.text()}`);
  return await response.json() as EditView;
}

export async function getEdit(s: Served, id: string): Promise<EditView> {
  const response = await s.call(`/v1/edits/${id}`);
  if (response.status !== 200) throw new Error(`get edit: ${response.status} ${await response.text()}`);
  return await response.json() as EditView;
}

/** Polls until `until(edit)` holds; fails after `timeoutMs` with the last view. */
export async function pollEdit(
  s: Served,
  id: string,
  until: (edit: EditView) => boolean = (e) => ["succeeded", "failed", "canceled"].includes(e.status),
  timeoutMs = 60_000,
): Promise<EditView> {
  return await waitFor(async () => {
    const edit = await getEdit(s, id);
    if (until(edit)) return edit;
    throw new Error(JSON.stringify(edit));
  }, { deadline: timeoutMs, intervalMs: 50, message: `edit ${id} reaching the awaited state` });
}

export async function download(s: Served, url: string): Promise<Uint8Array> {
  const response = await s.call(url);
  if (response.status !== 200) {
    throw new Error(`download ${url}: ${response.status} ${await response.text()}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

export interface EventView {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

export async function events(s: Served, id: string): Promise<EventView[]> {
  const response = await s.call(`/v1/edits/${id}/events`, { headers: { Accept: "application/json" } });
  return (await response.json() as { data: EventView[] }).data;
}
