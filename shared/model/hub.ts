/**
 * A model folder from the Hugging Face Hub's HTTP API: the file list of a revision
 * (`GET {endpoint}/api/models/{repo}/revision/{revision}` → `siblings[].rfilename`, `sha`), then each file the
 * service takes (flat `*.json` and `*.safetensors`) from `{endpoint}/{repo}/resolve/{revision}/{file}`, streamed
 * into the Hub's own cache layout (`$HF_HOME/hub/models--{org}--{name}/snapshots/{sha}/`), so a second import
 * reads the cache. The endpoint is HF_ENDPOINT (default https://huggingface.co), the token HF_TOKEN.
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
}

const REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const WANTED = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(json|safetensors)$/;

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

/** Downloads (or finds in the cache) a repo's model files at `revision`; returns the snapshot folder. */
export async function fetchHubModel(repo: string, revision = "main", o: HubOptions = {}): Promise<string> {
  if (!REPO.test(repo)) {
    throw new InputError(
      `Cannot import '${repo}' as a Hub id must be 'org/name': current value is '${repo}'`,
    );
  }
  const defaults = hubDefaults();
  const endpoint = (o.endpoint ?? defaults.endpoint).replace(/\/+$/, "");
  const token = o.token ?? defaults.token;
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const log = o.log ?? (() => {});
  const info = await hubGet(
    `${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`,
    headers,
  );
  const meta = await info.json() as { sha?: string; siblings?: { rfilename: string }[] };
  const files = (meta.siblings ?? []).map((s) => s.rfilename).filter((f) => WANTED.test(f));
  if (!files.includes("config.json")) {
    throw new InputError(`Cannot import '${repo}' as it must hold config.json at '${revision}': it does not`);
  }
  const sha = meta.sha ?? revision;
  const snapshot = join(
    o.cacheDir ?? defaults.cacheDir,
    `models--${repo.replace("/", "--")}`,
    "snapshots",
    sha,
  );
  await Deno.mkdir(snapshot, { recursive: true });
  for (const file of files) {
    const path = join(snapshot, file);
    if (await Deno.stat(path).then(() => true, () => false)) {
      log(`cached ${file}`);
      continue;
    }
    const response = await hubGet(`${endpoint}/${repo}/resolve/${encodeURIComponent(sha)}/${file}`, headers);
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

async function hubGet(url: string, headers: Record<string, string>): Promise<Response> {
  let response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw new InputError(`Cannot reach the Hub at ${new URL(url).origin}: ${(error as Error).message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    const why = response.status === 401 || response.status === 403
      ? "set HF_TOKEN for a gated or private repo"
      : response.status === 404
      ? "no such repo, revision or file"
      : "the Hub answered with an error";
    throw new InputError(`Cannot fetch ${url} as it must answer 200: HTTP ${response.status} (${why})`);
  }
  return response;
}
