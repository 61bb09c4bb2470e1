/**
 * Poison jobs cannot kill workers (issue 19): two workers share one queue; a dataset with one 50 MB line (let
 * through by an API whose line cap was raised, or stored before there was one) fails its edit once with a clear
 * error, and both workers stay alive and go on to finish a good edit. With the worker's line cap raised too, the
 * line reaches the compute thread, whose heap cap ends the task — not the worker — as the user's capacity error
 * naming PROFS_WORKER_MEMORY_MB. On PGlite, and on the Postgres server when TEST_DATABASE_URL is set.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { createLogger } from "../../shared/log.ts";
import { createServerDatabase, dropServerDatabase } from "../db/harness.ts";
import { noPostgres } from "../helpers/env.ts";
import {
  events,
  pairsJsonl,
  pollEdit,
  serveApi,
  type Served,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

const PARAMS = { layers: { from: 0, to: 2 }, rank: 1, max_tokens: 16 };
const LINE = 50_000_000;

function workers(s: Served, thread: { memoryMb?: number } = {}): Worker[] {
  return ["w1", "w2"].map((owner) =>
    startWorker({
      db: s.database.db,
      blobs: s.blobs,
      logger: createLogger({ write: () => {} }),
      owner,
      backend: "cpu",
      pollMs: 20,
      heartbeatMs: 100,
      leaseMs: 10_000,
      progressIntervalMs: 0,
      thread,
    })
  );
}

/** Neither worker's loop has ended: `done` settles only when a worker stops (or its process died). */
async function assertAlive(ws: Worker[]): Promise<void> {
  const states = await Promise.all(
    ws.map((w) =>
      Promise.race([w.done.then(() => "stopped"), new Promise((r) => setTimeout(() => r("alive"), 50))])
    ),
  );
  assert.deepEqual(states, ["alive", "alive"]);
}

function scenario(
  name: string,
  fn: (t: { s: Served; modelId: string; poisonId: string; goodId: string }) => Promise<void>,
): void {
  for (const engine of ["pglite", "postgres"] as const) {
    Deno.test({
      name: `${name} [${engine}]`,
      ignore: engine === "postgres" && noPostgres(),
      async fn() {
        const url = engine === "postgres" ? await createServerDatabase() : undefined;
        const inputs = await writeInputs();
        // The API's cap raised above the line, as for a dataset stored under a larger cap or before there was one.
        const s = await serveApi({ url, config: { maxLineBytes: 64 * 1024 ** 2 } });
        try {
          const poisonFile = join(inputs.dir, "poison.jsonl");
          const line = JSON.stringify({ preferred: "a".repeat(LINE), rejected: "b" });
          await Deno.writeTextFile(poisonFile, `${line}\n${await Deno.readTextFile(inputs.pairsFile)}`);
          const modelId = await uploadModel(s, inputs.modelDir);
          const poisonId = await uploadPairs(s, poisonFile);
          const goodId = await uploadPairs(s, inputs.pairsFile);
          await fn({ s, modelId, poisonId, goodId });
        } finally {
          await s.close();
          await Deno.remove(inputs.dir, { recursive: true });
          if (url) await dropServerDatabase(url);
        }
      },
    });
  }
}

/** The good edit after the poison one: some worker still claims, runs and publishes. */
async function goodEditSucceeds(s: Served, modelId: string, goodId: string): Promise<void> {
  const good = await submitEdit(s, { model_id: modelId, dataset_id: goodId, params: PARAMS });
  const done = await pollEdit(s, good.id, undefined, 120_000);
  assert.equal(done.status, "succeeded", JSON.stringify(done.error));
}

scenario(
  "a 50 MB dataset line with two workers: the edit fails once naming the line and the limit, both workers live on",
  async ({ s, modelId, poisonId, goodId }) => {
    const ws = workers(s);
    try {
      const edit = await submitEdit(s, { model_id: modelId, dataset_id: poisonId, params: PARAMS });
      const done = await pollEdit(s, edit.id, undefined, 120_000);
      assert.equal(done.status, "failed");
      assert.equal(done.attempts, 1, "failed once: never handed to the second worker");
      assert.match(
        done.error!.message,
        new RegExp(
          `dataset '${poisonId}' as line 1 must be at most 1048576 bytes \\(PROFS_MAX_LINE_BYTES\\): it has 5000\\d{4}`,
        ),
      );
      assert.ok(!done.error!.message.includes(s.blobDir), done.error!.message);
      assert.deepEqual((await events(s, edit.id)).filter((e) => e.type === "retrying"), [], "no retry");
      await assertAlive(ws);
      await goodEditSucceeds(s, modelId, goodId);
      await assertAlive(ws);
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  },
);

scenario(
  "the line let through to the compute thread: its heap cap ends the task as a capacity error, both workers live on",
  async ({ s, modelId, poisonId, goodId }) => {
    Deno.env.set("PROFS_MAX_LINE_BYTES", String(64 * 1024 ** 2));
    // 64 MiB: less than the 50 MB line costs to join and parse, more than a good edit needs.
    const ws = workers(s, { memoryMb: 64 });
    try {
      const edit = await submitEdit(s, { model_id: modelId, dataset_id: poisonId, params: PARAMS });
      const done = await pollEdit(s, edit.id, undefined, 120_000);
      assert.equal(done.status, "failed");
      assert.equal(done.attempts, 1, "a capacity error is not retried");
      assert.match(done.error!.message, /memory budget of 64 MiB \(PROFS_WORKER_MEMORY_MB\)/);
      await assertAlive(ws);
      await goodEditSucceeds(s, modelId, goodId);
      await assertAlive(ws);
    } finally {
      Deno.env.delete("PROFS_MAX_LINE_BYTES");
      await Promise.all(ws.map((w) => w.stop()));
    }
  },
);

scenario(
  "a job whose compute thread dies twice fails as the user's error after two lost attempts, both workers live on",
  async ({ s, modelId }) => {
    // A watchdog that hears no sign of life within 1 ms ends each thread within a second of its task's start:
    // two dead threads, as a native crash or a silent death would leave them. The edit must outlive that second
    // (a worker's spare thread has its modules loaded already): 3,000 pairs.
    const many = join(await Deno.makeTempDir({ prefix: "profs-poison-" }), "many.jsonl");
    await Deno.writeTextFile(many, pairsJsonl(3000));
    const goodId = await uploadPairs(s, many);
    await Deno.remove(dirname(many), { recursive: true });
    const ws = ["w1", "w2"].map((owner) =>
      startWorker({
        db: s.database.db,
        blobs: s.blobs,
        logger: createLogger({ write: () => {} }),
        owner,
        backend: "cpu",
        pollMs: 20,
        heartbeatMs: 100,
        leaseMs: 10_000,
        progressIntervalMs: 0,
        thread: { silenceMs: 1 },
      })
    );
    try {
      const edit = await submitEdit(s, { model_id: modelId, dataset_id: goodId, params: PARAMS });
      const done = await pollEdit(s, edit.id, undefined, 120_000);
      assert.equal(done.status, "failed");
      assert.equal(done.attempts, 2, "the second lost attempt ends it: no third");
      assert.match(done.error!.message, /^Cannot run the job as it stopped 2 workers/);
      // The input blamed is the one of the stage the attempts died in (each thread lives about a second: how far
      // the edit got by then depends on the machine): the model while loading it, else the dataset.
      const stage = /ended without a report while (\w+)/.exec(done.error!.message)?.[1];
      const blamed = stage === "loading_model" ? `its model '${modelId}'` : `its dataset '${goodId}'`;
      assert.match(done.error!.message, new RegExp(`${blamed}.*PROFS_WORKER_MEMORY_MB`));
      const lost = (await events(s, edit.id)).filter((e) =>
        (e.data as { lost?: unknown }).lost !== undefined
      );
      assert.deepEqual(lost.map((e) => e.type), ["retrying", "failed"]);
      await assertAlive(ws);
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
    }
  },
);
