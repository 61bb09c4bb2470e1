/**
 * No job runs forever: an edit the pipeline refuses fails at once (it used to sit "running" for good), every
 * attempt has a time limit (a worker option, PROFS_JOB_MAX_SECONDS, or a default sized
 * from the job) after which the job fails, unretried, with a message naming the limit; and a worker that stops
 * mid-job leaves no scratch directory behind.
 */
import assert from "node:assert/strict";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import {
  defaultJobSeconds,
  JOB_TIME,
  jobSecondsFromEnv,
  TimeLimitExceeded,
} from "../../gpu-worker/worker/jobs/time_limit.ts";
import { listArtifacts } from "../../shared/db/repositories/jobs.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger } from "../../shared/log.ts";
import { events, pollEdit, serveApi, submitEdit, uploadModel, uploadPairs, writeInputs } from "./harness.ts";

const PARAMS = { layers: { from: 0, to: 2 }, rank: 1, max_tokens: 16 };

async function setUp(pairs: number, pairsText?: string) {
  const inputs = await writeInputs({ pairs });
  if (pairsText !== undefined) await Deno.writeTextFile(inputs.pairsFile, pairsText);
  const s = await serveApi();
  const workDir = await Deno.makeTempDir({ prefix: "profs-worker-scratch-" });
  return {
    s,
    workDir,
    modelId: await uploadModel(s, inputs.modelDir),
    datasetId: await uploadPairs(s, inputs.pairsFile),
    worker: (options: { maxJobSeconds?: number }): Worker =>
      startWorker({
        db: s.database.db,
        blobs: s.blobs,
        logger: createLogger({ write: () => {} }),
        backend: "cpu",
        pollMs: 20,
        heartbeatMs: 100,
        leaseMs: 10_000,
        progressIntervalMs: 0,
        workDir,
        ...options,
      }),
    async close() {
      await s.close();
      await Deno.remove(inputs.dir, { recursive: true });
      await Deno.remove(workDir, { recursive: true });
    },
  };
}

Deno.test("an edit past its time limit fails once with a message naming the limit; no artifacts, no scratch", async () => {
  const t = await setUp(200);
  // 50 ms: the claim, download and thread start alone take longer, so the limit fires mid-attempt.
  const w = t.worker({ maxJobSeconds: 0.05 });
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1, "not retried: it would run as long again");
    assert.match(
      done.error!.message,
      /ran past its time limit of 0\.05 s \(the worker's limit for every job\).*raise PROFS_JOB_MAX_SECONDS/,
    );
    assert.deepEqual(await listArtifacts(t.s.database.db, t.s.tenantA, edit.id), []);
    assert.deepEqual(await t.s.blobs.list(`edits/${edit.id}`), []);
    assert.deepEqual([...Deno.readDirSync(t.workDir)], [], "the attempt's scratch directory is removed");
    const types = (await events(t.s, edit.id)).map((e) => e.type).filter((x) => x !== "progress");
    assert.deepEqual(types, ["queued", "started", "failed"]);
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("an edit the API lets through but the pipeline refuses (pairs of identical texts) fails at once", async () => {
  // Two rows pass the API's rank check; both pairs have the same text on both sides, which only the worker sees.
  const same = [
    '{"preferred":"hello there","rejected":"hello there"}',
    '{"preferred":"a b","rejected":"a b"}',
  ];
  const t = await setUp(2, same.join("\n") + "\n");
  const w = t.worker({});
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: { rank: 2 } });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1, "the user's error: not retried");
    assert.match(
      done.error!.message,
      /needs at least 2 usable pairs .* has 0 \(2 pairs; 2 with the same text/,
    );
    assert.deepEqual([...Deno.readDirSync(t.workDir)], []);
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("a worker stopped mid-edit hands the job back and leaves no scratch directory", async () => {
  // Enough pairs that the compute stages (embedding, svd, writing, margin) last well beyond one poll.
  const t = await setUp(1500);
  const w = t.worker({});
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const computing = ["embedding", "svd", "writing", "margin"];
    const running = await pollEdit(
      t.s,
      edit.id,
      (e) => computing.includes(e.progress?.stage ?? "") || e.status !== "running" && e.status !== "queued",
    );
    assert.equal(running.status, "running");
    assert.equal([...Deno.readDirSync(t.workDir)].length, 1, "the attempt has its scratch directory");
    await w.stop();
    assert.deepEqual([...Deno.readDirSync(t.workDir)], []);
    const back = await pollEdit(t.s, edit.id, (e) => e.status !== "running");
    assert.equal(back.status, "queued", "handed back for another worker");
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("the default time limit grows with the blocks, the pairs and a check", () => {
  const edit = (params: Record<string, unknown>) => ({ kind: "edit" as const, params });
  const base = defaultJobSeconds(edit({ layers: { from: 10, to: 24 } }));
  assert.equal(base, JOB_TIME.baseSeconds + 14 * JOB_TIME.perLayerSeconds + 500 * JOB_TIME.perPairSeconds);
  assert.equal(
    defaultJobSeconds(edit({ layers: { from: 10, to: 24 }, max_pairs: 501 })) - base,
    JOB_TIME.perPairSeconds,
  );
  assert.equal(
    defaultJobSeconds(edit({ layers: { from: 10, to: 24 }, check: true })) - base,
    JOB_TIME.checkSeconds,
  );
  assert.equal(
    defaultJobSeconds({ kind: "check", params: {} }),
    JOB_TIME.baseSeconds + JOB_TIME.checkSeconds,
  );
});

Deno.test("PROFS_JOB_MAX_SECONDS: unset → the default; a positive number → that limit; anything else refused", () => {
  const env = (value?: string) => ({ get: () => value });
  assert.equal(jobSecondsFromEnv(env()), undefined);
  assert.equal(jobSecondsFromEnv(env("")), undefined);
  assert.equal(jobSecondsFromEnv(env("90")), 90);
  assert.equal(jobSecondsFromEnv(env("0.5")), 0.5);
  for (const bad of ["0", "-1", "ten", "Infinity"]) {
    assert.throws(
      () => jobSecondsFromEnv(env(bad)),
      (e: Error) =>
        e instanceof InputError &&
        e.message ===
          `Cannot start a worker as 'PROFS_JOB_MAX_SECONDS' must be a positive number of seconds: ` +
            `current value is '${bad}'`,
    );
  }
  assert.match(new TimeLimitExceeded(3600, "x").message, /3600 s \(60\.0 min\) \(x\)/);
});
