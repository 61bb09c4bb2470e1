/**
 * A small client of the profs HTTP API, as a user would write one: upload a model folder and a JSONL dataset,
 * submit an edit, follow it to the end, download its artifacts. Every non-2xx answer throws with the problem's
 * detail.
 */
import { join } from "node:path";

export interface ApiClient {
  call(path: string, init?: RequestInit): Promise<Response>;
}

export function apiClient(baseUrl: string, apiKey: string): ApiClient {
  return {
    call: (path, init = {}) =>
      fetch(new URL(path, baseUrl), {
        ...init,
        headers: { Authorization: `Bearer ${apiKey}`, ...(init.headers ?? {}) },
      }),
  };
}

export class ApiCallError extends Error {
  override name = "ApiCallError";
}

async function json<T>(response: Response, what: string, expected: number): Promise<T> {
  if (response.status !== expected) {
    const text = await response.text();
    let detail = text;
    try {
      detail = JSON.parse(text).detail ?? text;
    } catch {
      // not problem+json: show the raw body
    }
    throw new ApiCallError(`${what} failed with HTTP ${response.status}: ${detail}`);
  }
  return await response.json() as T;
}

/** Creates a model, PUTs every file of `dir`, finalizes it; returns the model id. */
export async function uploadModelFolder(client: ApiClient, dir: string, name: string): Promise<string> {
  const { id } = await json<{ id: string }>(
    await client.call("/v1/models", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }),
    }),
    "creating the model",
    201,
  );
  for (const entry of [...Deno.readDirSync(dir)].filter((e) => e.isFile)) {
    const file = await Deno.open(join(dir, entry.name), { read: true });
    const size = (await file.stat()).size;
    await json(
      await client.call(`/v1/models/${id}/files/${encodeURIComponent(entry.name)}`, {
        method: "PUT",
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
        body: file.readable,
      }),
      `uploading ${entry.name}`,
      201,
    );
  }
  await json(await client.call(`/v1/models/${id}/finalize`, { method: "POST" }), "finalizing the model", 200);
  return id;
}

export async function uploadDataset(client: ApiClient, file: string, name: string): Promise<string> {
  const { id } = await json<{ id: string }>(
    await client.call(`/v1/datasets?name=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { "Content-Type": "application/x-ndjson" },
      body: await Deno.readFile(file),
    }),
    "uploading the dataset",
    201,
  );
  return id;
}

export interface EditView {
  id: string;
  status: string;
  progress: { stage: string; done: number; total: number } | null;
  error: { message: string } | null;
  artifacts: { name: string; size: number; url: string }[];
}

export async function submitEdit(
  client: ApiClient,
  body: { model_id: string; dataset_id: string; params?: Record<string, unknown> },
): Promise<EditView> {
  return await json<EditView>(
    await client.call("/v1/edits", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify(body),
    }),
    "submitting the edit",
    201,
  );
}

export interface CheckView {
  id: string;
  status: string;
  progress: { stage: string; done: number; total: number } | null;
  error: { message: string } | null;
  result: unknown;
  artifacts: { name: string; size: number; url: string }[];
}

/** Starts a check of a succeeded edit (base vs edited model). */
export async function submitCheck(client: ApiClient, editId: string): Promise<CheckView> {
  return await json<CheckView>(
    await client.call("/v1/checks", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ edit_id: editId }),
    }),
    "submitting the check",
    201,
  );
}

/** Polls an edit (`/v1/edits/…`) or a check (`/v1/checks/…`) until it is finished. */
export async function waitForJob<T extends { status: string; progress: EditView["progress"] }>(
  client: ApiClient,
  path: string,
  options: {
    onProgress?: (p: NonNullable<EditView["progress"]>) => void;
    intervalMs?: number;
    timeoutMs?: number;
  } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  let last = "";
  for (;;) {
    const job = await json<T>(await client.call(path), `reading ${path}`, 200);
    if (job.progress) {
      const key = `${job.progress.stage} ${job.progress.done}/${job.progress.total}`;
      if (key !== last) options.onProgress?.(job.progress);
      last = key;
    }
    if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
    if (Date.now() > deadline) {
      throw new ApiCallError(`${path} did not finish in time (status ${job.status})`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}

/** Streams every artifact of a succeeded job into `dir`. */
export async function downloadArtifacts(
  client: ApiClient,
  job: { artifacts: { name: string; url: string }[] },
  dir: string,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  for (const artifact of job.artifacts) {
    const response = await client.call(artifact.url);
    if (response.status !== 200 || !response.body) {
      throw new ApiCallError(`downloading ${artifact.name} failed with HTTP ${response.status}`);
    }
    const file = await Deno.open(join(dir, artifact.name), { write: true, create: true, truncate: true });
    await response.body.pipeTo(file.writable);
  }
  return job.artifacts.map((a) => a.name);
}
