/**
 * Hub imports on the service: `POST /v1/models` with `source.hub` → a pending model and an `import` job; a cpu
 * worker fetches the revision from a local server in the Hub's URL layout (tests/helpers/hub_server.ts), stores
 * each file validated like an upload, reports bytes, and the model becomes ready — or fails with the reason
 * (missing repo, gated repo without a token, truncated safetensors) and the model says why. The client's
 * `profs models import ORG/NAME --follow` runs the same flow.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { main } from "../../main.ts";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { getJob, listJobEvents } from "../../shared/db/repositories/jobs.ts";
import { silentLogger } from "../../shared/log.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { serveHub, withEnv } from "../helpers/hub_server.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";
import { serveApi, type Served } from "./harness.ts";

interface ModelBody {
  id: string;
  name: string;
  status: string;
  source: string;
  files: { name: string; size: number; sha256: string }[];
  summary: { family: string; num_layers: number; weight_files: string[] } | null;
  errors: string[];
  import: {
    hub: string;
    revision: string;
    job_id: string;
    status: string;
    progress: { stage: string; done: number; total: number } | null;
    error: string | null;
  } | null;
}

async function setup(url?: string): Promise<
  { dir: string; sharded: string; single: string; s: Served; worker: Worker; close(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "profs-import-test-" });
  const sharded = join(dir, "sharded");
  const single = join(dir, "single");
  await writeTinyGpt2(sharded, { layers: 2, hidden: 24, shards: 2 });
  await writeTinyGpt2(single, { layers: 2, hidden: 24, seed: 3 });
  const s = await serveApi({ url });
  const worker = startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: silentLogger,
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 10_000,
    progressIntervalMs: 0,
  });
  return {
    dir,
    sharded,
    single,
    s,
    worker,
    async close() {
      await worker.stop();
      await s.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function importModel(s: Served, body: unknown): Promise<Response> {
  return await s.call("/v1/models", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function settled(s: Served, id: string): Promise<ModelBody> {
  return await waitFor(async () => {
    const model = await (await s.call(`/v1/models/${id}`)).json() as ModelBody;
    const done = ["succeeded", "failed", "canceled"].includes(model.import?.status ?? "");
    return done ? model : false;
  }, { deadline: 60_000, message: `the import of model ${id} settling` });
}

const sha256 = async (path: string) => createHash("sha256").update(await Deno.readFile(path)).digest("hex");

for (const target of [{ db: "pglite", url: undefined }, { db: "postgres", url: testDatabaseUrl }]) {
  Deno.test({
    name:
      `POST /v1/models {source: {hub}} (${target.db}): a worker imports shards + index, config and tokenizer; ` +
      "the model is ready",
    ignore: target.db === "postgres" && noPostgres(),
    fn: () => importsShardedRepo(target.url),
  });
}

async function importsShardedRepo(url: string | undefined) {
  const t = await setup(url);
  const hub = serveHub({ "org/tiny": { dir: t.sharded, sha: "c0ffee", revisions: ["main", "v2"] } });
  try {
    await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: undefined }, async () => {
      const created = await importModel(t.s, { source: { hub: "org/tiny", revision: "v2" } });
      assert.equal(created.status, 201, await created.clone().text());
      const view = await created.json() as ModelBody;
      assert.equal(view.status, "pending");
      assert.equal(view.source, "hub");
      assert.equal(view.import?.hub, "org/tiny");
      assert.equal(view.import?.revision, "v2");

      const model = await settled(t.s, view.id);
      assert.equal(model.import?.status, "succeeded", model.import?.error ?? "");
      assert.equal(model.status, "ready");
      assert.equal(model.summary?.family, "gpt2");
      assert.equal(model.summary?.num_layers, 2);
      const served = [...Deno.readDirSync(t.sharded)].map((e) => e.name).sort();
      assert.ok(served.includes("model.safetensors.index.json") && model.summary!.weight_files.length === 2);
      assert.deepEqual(model.files.map((f) => f.name).sort(), served);
      for (const f of model.files) assert.equal(f.sha256, await sha256(join(t.sharded, f.name)), f.name);
      assert.ok(hub.requests.every((p) => !p.includes("/resolve/") || p.includes("/resolve/c0ffee/")));

      // Progress in bytes while downloading: the last report is every byte of the revision.
      const total = model.files.reduce((sum, f) => sum + f.size, 0);
      const events = await listJobEvents(t.s.database.db, t.s.tenantA, model.import!.job_id);
      const downloads = events.filter((e) => e.type === "progress")
        .map((e) => e.data as { stage: string; done: number; total: number })
        .filter((p) => p.stage === "downloading");
      assert.ok(downloads.length >= 2, `progress events: ${JSON.stringify(downloads)}`);
      assert.deepEqual(downloads.at(-1), { stage: "downloading", done: total, total });
      assert.ok(downloads.every((p, i) => i === 0 || p.done >= downloads[i - 1].done));

      // It edits like an uploaded model: an upload into it or a finalize is refused, the import finalized it.
      const put = await t.s.call(`/v1/models/${model.id}/files/config.json`, { method: "PUT", body: "{}" });
      assert.equal(put.status, 409);
      await put.body?.cancel();
    });
  } finally {
    await hub.shutdown();
    await t.close();
  }
}

Deno.test("Hub import failures: a missing repo, a gated repo without HF_TOKEN, truncated safetensors → the reason on the model", async () => {
  const t = await setup();
  const broken = join(t.dir, "broken");
  await Deno.mkdir(broken);
  for (const name of ["config.json", "tokenizer.json"]) {
    await Deno.copyFile(join(t.single, name), join(broken, name));
  }
  const weights = await Deno.readFile(join(t.single, "model.safetensors"));
  await Deno.writeFile(join(broken, "model.safetensors"), weights.subarray(0, weights.byteLength - 100));
  const hub = serveHub({
    "org/gated": { dir: t.single, token: "hf_secret" },
    "org/broken": { dir: broken },
  });
  try {
    await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: undefined }, async () => {
      const cases: [string, RegExp][] = [
        ["org/missing", /HTTP 404 \(no such repo, revision or file\)/],
        ["org/gated", /HTTP 401 \(a gated or private repo: set HF_TOKEN/],
        [
          "org/broken",
          /Cannot import 'org\/broken' at 'main': .*safetensors .*must contain (all tensor data|the whole)/,
        ],
      ];
      for (const [repo, reason] of cases) {
        const created = await importModel(t.s, { source: { hub: repo } });
        assert.equal(created.status, 201);
        const model = await settled(t.s, (await created.json() as ModelBody).id);
        assert.equal(model.import?.status, "failed", repo);
        assert.match(model.import?.error ?? "", reason);
        assert.equal(model.status, "invalid", repo);
        assert.match(model.errors.join("\n"), reason);
        assert.ok(
          !model.files.some((f) => f.name === "model.safetensors"),
          `${repo}: no truncated file stored`,
        );
      }
    });
    // With the token, the gated repo imports.
    await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: "hf_secret" }, async () => {
      const created = await importModel(t.s, { source: { hub: "org/gated" }, name: "gated" });
      const model = await settled(t.s, (await created.json() as ModelBody).id);
      assert.equal(model.status, "ready", model.import?.error ?? "");
    });
  } finally {
    await hub.shutdown();
    await t.close();
  }
});

Deno.test("POST /v1/models: a malformed Hub id, or both path and source, or neither name nor source → 422, nothing created", async () => {
  const t = await setup();
  try {
    for (
      const [body, path] of [
        [{ source: { hub: "no-slash" } }, "source.hub"],
        [{ source: { hub: "org/name", revision: "../x" } }, "source.revision"],
        [{ name: "m", path: "/models/m", source: { hub: "org/name" } }, "source"],
        [{}, "name"],
      ] as const
    ) {
      const response = await importModel(t.s, body);
      assert.equal(response.status, 422, JSON.stringify(body));
      const problem = await response.json() as { errors: { path: string }[] };
      assert.ok(
        problem.errors.some((e) => e.path === path),
        `${JSON.stringify(body)}: ${JSON.stringify(problem)}`,
      );
    }
    const list = await (await t.s.call("/v1/models")).json() as { data: unknown[] };
    assert.equal(list.data.length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("profs models import ORG/NAME --follow: the service imports it and the command waits until it is ready", async () => {
  const t = await setup();
  const hub = serveHub({ "org/tiny": { dir: t.single } });
  const out: string[] = [];
  const { log, error } = console;
  try {
    const env = {
      HF_ENDPOINT: hub.url,
      PROFS_URL: t.s.base,
      PROFS_API_KEY: t.s.keyA.Authorization.slice(7),
      PROFS_CONFIG: "/nonexistent/profs.json",
    };
    await withEnv(env, async () => {
      console.log = (...a: unknown[]) => out.push(a.join(" "));
      console.error = () => {};
      const code = await main(["models", "import", "org/tiny", "--follow", "--json"]);
      console.log = log;
      console.error = error;
      assert.equal(code, 0);
      const model = JSON.parse(out.join("\n")) as ModelBody;
      assert.equal(model.status, "ready");
      assert.equal(model.name, "org/tiny");
      const weights = model.files.find((f) => f.name === "model.safetensors");
      assert.equal(weights?.sha256, await sha256(join(t.single, "model.safetensors")));

      // A repo the Hub does not have: one line naming the reason, exit code 1.
      const lines: string[] = [];
      console.error = (...a: unknown[]) => lines.push(a.join(" "));
      console.log = () => {};
      const failed = await main(["models", "import", "org/absent", "--follow"]).catch(() => 1);
      console.log = log;
      console.error = error;
      assert.equal(failed, 1);
      assert.match(lines.join("\n"), /HTTP 404/);
    });
  } finally {
    console.log = log;
    console.error = error;
    await hub.shutdown();
    await t.close();
  }
});

Deno.test("DELETE /v1/models/{id} of a model still importing cancels its import and deletes it", async () => {
  const s = await serveApi(); // no worker: the import stays queued
  try {
    const created = await importModel(s, { source: { hub: "org/tiny" } });
    const view = await created.json() as ModelBody;
    assert.equal(view.import?.status, "queued");
    const deleted = await s.call(`/v1/models/${view.id}`, { method: "DELETE" });
    assert.equal(deleted.status, 204, await deleted.clone().text());
    assert.equal((await s.call(`/v1/models/${view.id}`)).status, 404);
    const job = await getJob(s.database.db, s.tenantA, view.import!.job_id);
    assert.equal(job?.status, "canceled");
  } finally {
    await s.close();
  }
});
