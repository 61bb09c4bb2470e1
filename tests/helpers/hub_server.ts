/**
 * A local stand-in for the Hugging Face Hub's HTTP API, serving folders in the Hub's URL layout:
 * `GET /api/models/{org}/{name}/revision/{rev}` → `{sha, siblings: [{rfilename}]}` and
 * `GET /{org}/{name}/resolve/{sha}/{file}` → the file with its Content-Length. A repo with a `token` answers
 * 401 without `Authorization: Bearer <token>` (a gated repo); unknown repos, revisions and files are 404.
 * Point HF_ENDPOINT at `url` (`withHubEnv`).
 */
import { join } from "node:path";

export interface HubRepo {
  dir: string;
  /** the commit every revision resolves to (default "feed") */
  sha?: string;
  /** revisions that exist (default any) */
  revisions?: string[];
  /** a gated repo: this bearer token is required */
  token?: string;
}

export interface HubServer {
  url: string;
  /** every path asked for, in order */
  requests: string[];
  shutdown(): Promise<void>;
}

export function serveHub(repos: Record<string, HubRepo>): HubServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    requests.push(path);
    const info = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    const file = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/([\w.-]+)$/.exec(path);
    const repo = repos[(info ?? file)?.[1] ?? ""];
    if (!repo) return new Response("Repository not found", { status: 404 });
    if (repo.token && request.headers.get("authorization") !== `Bearer ${repo.token}`) {
      return new Response("Access to this repo is restricted", { status: 401 });
    }
    const sha = repo.sha ?? "feed";
    if (info) {
      if (repo.revisions && !repo.revisions.includes(info[2])) return new Response("", { status: 404 });
      return Response.json({
        sha,
        siblings: [...Deno.readDirSync(repo.dir)].map((e) => ({ rfilename: e.name })),
      });
    }
    if (file![2] !== sha) return new Response("", { status: 404 });
    try {
      const bytes = await Deno.readFile(join(repo.dir, file![3]));
      return new Response(bytes, { headers: { "content-length": String(bytes.byteLength) } });
    } catch {
      return new Response("", { status: 404 });
    }
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, requests, shutdown: () => server.shutdown() };
}

/** Runs `fn` with HF_ENDPOINT (and any other variables given) set, restoring them after. */
export async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  const set = (k: string, v: string | undefined) => v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  for (const [k, v] of Object.entries(env)) set(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) set(k, v);
  }
}
