/**
 * The scaled-out service on a Postgres server (TEST_DATABASE_URL; a fresh database per test): several workers,
 * each with its own connection pool, share one queue and one blob directory. Every job is done exactly once, and
 * a worker process killed with SIGKILL mid-job loses nothing: its lease expires, another worker finishes the job,
 * and exactly one set of artifacts is published.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { createJobQueue, openDatabase } from "../../shared/db/index.ts";
import { listArtifacts } from "../../shared/db/repositories/jobs.ts";
import { createLogger } from "../../shared/log.ts";
import { createServerDatabase, dropServerDatabase } from "../db/harness.ts";
import { noPostgres } from "../helpers/env.ts";
import {
  type EditView,
  events,
  pollEdit,
  serveApi,
  type Served,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const DENO = Deno.execPath();
const PARAMS = { layers: { from: 0, to: 2 }, rank: 1, max_tokens: 16 };

/**
 * Leases are long here (a job's cpu stages block the event loop for seconds on this loaded 2-core machine, and
 * the two workers share one): expiry is tested with the child process's short lease, reaped every 200 ms.
 */
async function inProcessWorker(url: string, blobs: Served["blobs"]) {
  const database = await openDatabase({ url, maxConnections: 3 });
  const worker: Worker = startWorker({
    db: database.db,
    blobs,
    logger: createLogger({ write: () => {} }),
    // Short backoff so a re-queued job comes back within the test.
    queue: createJobQueue({ retryPolicy: { baseMs: 200, capMs: 1_000, jitter: 0 } }),
    backend: "cpu",
    pollMs: 30,
    heartbeatMs: 100,
    leaseMs: 60_000,
    reapMs: 200,
    progressIntervalMs: 0,
  });
  return {
    worker,
    async close() {
      await worker.stop();
      await database.close();
    },
  };
}

async function setUp(pairs: number) {
  const url = await createServerDatabase();
  const inputs = await writeInputs({ pairs });
  const s = await serveApi({ url });
  const modelId = await uploadModel(s, inputs.modelDir);
  const datasetId = await uploadPairs(s, inputs.pairsFile);
  return {
    url,
    s,
    modelId,
    datasetId,
    async close() {
      await s.close();
      await dropServerDatabase(url);
      await Deno.remove(inputs.dir, { recursive: true });
    },
  };
}

/** Attempt prefixes (`edits/<job>/a<n>-<token>`) holding blobs of a job. */
async function attemptPrefixes(s: Served, jobId: string): Promise<string[]> {
  return [...new Set((await s.blobs.list(`edits/${jobId}`)).map((k) => k.split("/").slice(0, 3).join("/")))];
}

Deno.test({
  name: "two workers and ten jobs on Postgres: every job succeeds exactly once with one set of artifacts",
  ignore: noPostgres(),
  async fn() {
    const t = await setUp(6);
    const workers = [
      await inProcessWorker(t.url, t.s.blobs),
      await inProcessWorker(t.url, t.s.blobs),
    ];
    try {
      const submitted: EditView[] = [];
      for (let i = 0; i < 10; i++) {
        submitted.push(
          await submitEdit(t.s, {
            model_id: t.modelId,
            dataset_id: t.datasetId,
            params: { ...PARAMS, seed: i },
          }),
        );
      }
      const owners = new Set<unknown>();
      for (const { id } of submitted) {
        const edit = await pollEdit(t.s, id, undefined, 120_000);
        assert.equal(edit.status, "succeeded", JSON.stringify(edit.error));
        assert.equal(edit.attempts, 1, JSON.stringify(edit.error));
        const history = await events(t.s, id);
        assert.equal(history.filter((e) => e.type === "started").length, 1, `${id} claimed once`);
        assert.equal(history.filter((e) => e.type === "succeeded").length, 1, `${id} succeeded once`);
        owners.add(history.find((e) => e.type === "started")!.data.owner);
        const rows = await listArtifacts(t.s.database.db, t.s.tenantA, id);
        assert.equal(rows.length, edit.artifacts.length);
        assert.equal((await attemptPrefixes(t.s, id)).length, 1);
      }
      console.log(`jobs were claimed by ${owners.size} worker(s)`);
    } finally {
      for (const w of workers) await w.close();
      await t.close();
    }
  },
});

Deno.test({
  name: "a worker process killed with SIGKILL mid-job: another worker finishes it, one set of artifacts",
  ignore: noPostgres(),
  async fn() {
    const t = await setUp(64);
    const leaseMs = 1_500;
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        MAIN,
        "worker",
        "--backend",
        "cpu",
        "--lease-ms",
        String(leaseMs),
        "--heartbeat-ms",
        "200",
        "--poll-ms",
        "50",
      ],
      env: { DATABASE_URL: t.url, PROFS_BLOB_DIR: t.s.blobDir },
      stdout: "null",
      stderr: "null",
    }).spawn();
    let rescuer: Awaited<ReturnType<typeof inProcessWorker>> | null = null;
    try {
      const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
      const running = await pollEdit(
        t.s,
        edit.id,
        (e) => e.progress !== null || !["queued", "running"].includes(e.status),
        120_000,
      );
      assert.equal(running.status, "running", "the child must be mid-job when it is killed");
      child.kill("SIGKILL");
      assert.equal((await child.status).signal, "SIGKILL");

      rescuer = await inProcessWorker(t.url, t.s.blobs);
      const done = await pollEdit(t.s, edit.id, undefined, 120_000);
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));
      assert.equal(done.attempts, 2);
      assert.match(done.error!.message, /stopped heartbeating/, "the lost attempt's error is kept");

      const history = await events(t.s, edit.id);
      const lifecycle = history.filter((e) => e.type !== "progress").map((e) =>
        `${e.type}@${e.data.attempt}`
      );
      assert.deepEqual(lifecycle, ["queued@0", "started@1", "retrying@1", "started@2", "succeeded@2"]);
      const seqs = history.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));

      const rows = await listArtifacts(t.s.database.db, t.s.tenantA, edit.id);
      assert.equal(rows.length, done.artifacts.length);
      assert.equal(new Set(rows.map((r) => r.name)).size, rows.length);
      const prefixes = await attemptPrefixes(t.s, edit.id);
      assert.equal(prefixes.length, 1);
      assert.ok(rows.every((r) => r.blobKey.startsWith(`${prefixes[0]}/`)));
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      await child.status;
      await rescuer?.close();
      await t.close();
    }
  },
});
