/**
 * A model from the Hugging Face Hub's HTTP API: the file list of a revision
 * (`GET {endpoint}/api/models/{repo}/revision/{revision}` → `siblings[].rfilename`, `sha`), then each file profs
 * takes (flat `*.json` and `*.safetensors`: config, tokenizer, weights or shards and their index) from
 * `{endpoint}/{repo}/resolve/{sha}/{file}`. The endpoint is HF_ENDPOINT (default https://huggingface.co), the token
 * HF_TOKEN. Two readers: `fetchHubModel` streams the files into the Hub's own cache layout
 * (`$HF_HOME/hub/models--{org}--{name}/snapshots/{sha}/`, the CLI's `edit --model org/name`), and the worker's
 * import job streams `hubFile` bodies into the blob store, validated like an upload.
 *
 * Errors: a malformed id, 401/403 (gated or private: set HF_TOKEN), 404 (no such repo, revision or file) and a
 * revision without config.json are `InputError`s (the same request fails the same way); an unreachable Hub or a
 * 5xx is a `HubUnavailableError` (a plain Error: a worker retries it).
 */
import { join } from "node:path";
import { InputError } from "../errors.ts";

export interface HubOptions {
  endpoint?: string;
  token?: string;
  /** the cache root (default $HF_HOME/hub, else ~/.cache/huggingface/hub) */
  cacheDir?: string;
  onProgress?: (file: string, done: number, total: number) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** A Hub model id: `org/name`. */
export const HUB_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** A revision: a branch, tag or commit (no `..`, no leading `/`). */
export const HUB_REVISION = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._\/-]{0,199}$/;
const WANTED = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(json|safetensors)$/;

/** The Hub could not be reached or answered 5xx: worth another try later. */
export class HubUnavailableError extends Error {
  override name = "HubUnavailableError";
}

export function hubDefaults(env: (name: string) => string | undefined = Deno.env.get):
  & Required<
    Pick<HubOptions, "endpoint" | "cacheDir">
  >
  & { token?: string } {
  const home = env("HF_HOME") || join(env("HOME") ?? ".", ".cache", "huggingface");
  return {
    endpoint: (env("HF_ENDPOINT") || "https://huggingface.co").replace(/\/+$/, ""),
    token: env("HF_TOKEN") || undefined,
    cacheDir: env("HF_HUB_CACHE") || join(home, "hub"),
  };
}

/** A revision of a repo: its commit and the files profs takes from it (config.json among them). */
export interface HubRevision {
  repo: string;
  revision: string;
  sha: string;
  files: string[];
}

/** The files of `repo` at `revision` that a model folder needs; refuses a revision without config.json. */
export async function hubRevision(repo: string, revision = "main", o: HubOptions = {}): Promise<HubRevision> {
  if (!HUB_REPO.test(repo)) {
    throw new InputError(
      `Cannot import '${repo}' as a Hub id must be 'org/name': current value is '${repo}'`,
    );
  }
  if (!HUB_REVISION.test(revision)) {
    throw new InputError(
      `Cannot import '${repo}' as a revision must be a branch, tag or commit: current value is '${revision}'`,
    );
  }
  const { endpoint, headers } = connection(o);
  const info = await hubGet(
    `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`,
    headers,
    repo,
    o.signal,
  );
  const meta = await info.json() as { sha?: string; siblings?: { rfilename: string }[] };
  const files = (meta.siblings ?? []).map((s) => s.rfilename).filter((f) => WANTED.test(f));
  if (!files.includes("config.json")) {
    throw new InputError(`Cannot import '${repo}' as it must hold config.json at '${revision}': it does not`);
  }
  return { repo, revision, sha: meta.sha ?? revision, files };
}

/** One file of a revision as a streaming response (`content-length` when the Hub sends one). */
export async function hubFile(rev: HubRevision, file: string, o: HubOptions = {}): Promise<Response> {
  const { endpoint, headers } = connection(o);
  return await hubGet(
    `${endpoint}/${rev.repo}/resolve/${encodeURIComponent(rev.sha)}/${file}`,
    headers,
    rev.repo,
    o.signal,
  );
}

/** Downloads (or finds in the cache) a repo's model files at `revision`; returns the snapshot folder. */
export async function fetchHubModel(repo: string, revision = "main", o: HubOptions = {}): Promise<string> {
  const rev = await hubRevision(repo, revision, o);
  const log = o.log ?? (() => {});
  const snapshot = join(
    o.cacheDir ?? hubDefaults().cacheDir,
    `models--${repo.replace("/", "--")}`,
    "snapshots",
    rev.sha,
  );
  await Deno.mkdir(snapshot, { recursive: true });
  for (const file of rev.files) {
    const path = join(snapshot, file);
    if (await Deno.stat(path).then(() => true, () => false)) {
      log(`cached ${file}`);
      continue;
    }
    const response = await hubFile(rev, file, o);
    const total = Number(response.headers.get("content-length") ?? 0);
    const partial = `${path}.incomplete`;
    const out = await Deno.open(partial, { write: true, create: true, truncate: true });
    let done = 0;
    await response.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          done += chunk.byteLength;
          o.onProgress?.(file, done, total || done);
          controller.enqueue(chunk);
        },
      }),
    ).pipeTo(out.writable);
    if (total && done !== total) {
      await Deno.remove(partial);
      throw new InputError(`Cannot import '${repo}' as ${file} must be ${total} bytes: ${done} arrived`);
    }
    await Deno.rename(partial, path);
    log(`fetched ${file}`);
  }
  return snapshot;
}

function connection(o: HubOptions): { endpoint: string; headers: Record<string, string> } {
  const defaults = hubDefaults();
  const token = o.token ?? defaults.token;
  return {
    endpoint: (o.endpoint ?? defaults.endpoint).replace(/\/+$/, ""),
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  };
}

async function hubGet(
  url: string,
  headers: Record<string, string>,
  repo: string,
  signal?: AbortSignal,
): Promise<Response> {
  let response;
  try {
    response = await fetch(url, { headers, signal });
  } catch (error) {
    signal?.throwIfAborted();
    throw new HubUnavailableError(
      `Cannot reach the Hub at ${new URL(url).origin} for '${repo}': ${(error as Error).message}`,
    );
  }
  if (response.ok) return response;
  await response.body?.cancel();
  const path = new URL(url).pathname;
  if (response.status >= 500 || response.status === 429) {
    throw new HubUnavailableError(
      `Cannot fetch ${path} from the Hub as it must answer 200: HTTP ${response.status} (try again later)`,
    );
  }
  const why = response.status === 401 || response.status === 403
    ? "a gated or private repo: set HF_TOKEN to a token that may read it"
    : response.status === 404
    ? "no such repo, revision or file"
    : "the Hub refused the request";
  throw new InputError(
    `Cannot import '${repo}' as the Hub must answer 200 for ${path}: HTTP ${response.status} (${why})`,
  );
}
