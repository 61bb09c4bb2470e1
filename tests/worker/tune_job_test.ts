/**
 * Tunes through the API with a worker (issue 21): POST /v1/tunes runs runTune in the worker, every finished trial
 * is a `trial` event of the job, the chosen edit's files, tune.json and report.html are artifacts, the finish
 * writes a tune.succeeded webhook row; a worker that stops mid-search hands the job back and the next attempt
 * resumes without running a recorded trial again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { createLogger } from "../../shared/log.ts";
import { webhookDeliveries } from "../../shared/db/schema.ts";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { createEndpoint } from "../webhooks/db_fixtures.ts";
import {
  download,
  pairsJsonl,
  serveApi,
  type Served,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

interface TuneView {
  id: string;
  status: string;
  attempts: number;
  error: { message: string } | null;
  params: Record<string, unknown>;
  result: {
    chosen: { key: string; rank: number; layers: { from: number; to: number }; centering: boolean };
    trials: number;
    candidates: number;
    resumed: number;
    front: string[];
    edit: { num_pairs?: number; held_out?: { pairs: number } };
  } | null;
  artifacts: { name: string; url: string; sha256: string }[];
}

function worker(s: Served, logs: string[] = []): Worker {
  return startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: (line) => logs.push(line) }),
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 10_000,
    progressIntervalMs: 0,
  });
}

async function submitTune(s: Served, body: Record<string, unknown>, key?: string): Promise<Response> {
  return await s.call("/v1/tunes", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(key ? { "Idempotency-Key": key } : {}) },
    body: JSON.stringify(body),
  });
}

async function getTune(s: Served, id: string): Promise<TuneView> {
  const response = await s.call(`/v1/tunes/${id}`);
  assert.equal(response.status, 200);
  return await response.json() as TuneView;
}

async function pollTune(
  s: Served,
  id: string,
  until = (t: TuneView) => t.status !== "queued" && t.status !== "running",
) {
  return await waitFor(async () => {
    const tune = await getTune(s, id);
    if (until(tune)) return tune;
    throw new Error(JSON.stringify(tune));
  }, { deadline: 240_000, intervalMs: 100, message: `tune ${id} reaching the awaited state` });
}

async function trialEvents(
  s: Served,
  id: string,
): Promise<{ key: string; index: number; attempt: number }[]> {
  const response = await s.call(`/v1/tunes/${id}/events`, { headers: { Accept: "application/json" } });
  const body = await response.json() as { data: { type: string; data: Record<string, unknown> }[] };
  return body.data.filter((e) => e.type === "trial").map((e) =>
    e.data as { key: string; index: number; attempt: number }
  );
}

// 40 pairs: 16 held out for the margin, 24 find the subspaces; 3 blocks × ranks 1..2 × centering on/off.
const PARAMS = { max_rank: 2, max_tokens: 16, seed: 1 };
const CANDIDATES = 3 * 2 * 2;

Deno.test("a tune over HTTP: trials as events, the chosen edit's artifacts with tune.json, a tune.succeeded webhook row", async () => {
  const inputs = await writeInputs({ pairs: 40, layers: 3 });
  const s = await serveApi();
  const w = worker(s);
  try {
    await createEndpoint(s.database.db, s.tenantA, "https://hooks.example.com/t", ["tune.succeeded"]);
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const body = { model_id: modelId, dataset_id: datasetId, params: PARAMS };
    const created = await submitTune(s, body, "tune-1");
    assert.equal(created.status, 201);
    const submitted = await created.json() as TuneView;
    // The same key and body: the same job, said so.
    const again = await submitTune(s, body, "tune-1");
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    assert.equal((await again.json() as TuneView).id, submitted.id);
    assert.equal((await submitTune(s, { ...body, params: { max_rank: 3 } }, "tune-1")).status, 422);

    const tune = await pollTune(s, submitted.id);
    assert.equal(tune.status, "succeeded", JSON.stringify(tune.error));
    const result = tune.result!;
    assert.equal(result.candidates, CANDIDATES);
    assert.equal(result.trials, CANDIDATES);
    assert.equal(result.resumed, 0);
    assert.ok(result.front.includes(result.chosen.key), "the chosen point is on the front");
    assert.equal(result.edit.held_out?.pairs, 16);
    assert.equal(result.edit.num_pairs, 24);

    const trials = await trialEvents(s, tune.id);
    assert.equal(trials.length, CANDIDATES);
    assert.equal(new Set(trials.map((t) => t.key)).size, CANDIDATES, "every candidate once");

    const names = tune.artifacts.map((a) => a.name).sort();
    for (
      const name of [
        "tune.json",
        "report.html",
        "report.json",
        "patch.safetensors",
        "model.safetensors",
        "lora.tar",
      ]
    ) {
      assert.ok(names.includes(name), `${name} in ${names}`);
    }
    const doc = JSON.parse(new TextDecoder().decode(
      await download(s, tune.artifacts.find((a) => a.name === "tune.json")!.url),
    ));
    assert.equal(doc.chosen.key, result.chosen.key);
    assert.deepEqual(doc.trials.map((t: { key: string }) => t.key).sort(), trials.map((t) => t.key).sort());
    const report = JSON.parse(new TextDecoder().decode(
      await download(s, tune.artifacts.find((a) => a.name === "report.json")!.url),
    ));
    assert.deepEqual(report.params.layers, result.chosen.layers);
    assert.equal(report.params.rank, result.chosen.rank);

    const rows = await s.database.db.select().from(webhookDeliveries)
      .where(eq(webhookDeliveries.tenantId, s.tenantA));
    assert.deepEqual(rows.map((r) => r.eventType), ["tune.succeeded"]);
  } finally {
    await w.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test("a worker stopped mid-search hands the tune back; the next attempt resumes and repeats no recorded trial", async () => {
  const inputs = await writeInputs({ pairs: 40, layers: 3 });
  const s = await serveApi();
  let w = worker(s);
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const created = await submitTune(s, { model_id: modelId, dataset_id: datasetId, params: PARAMS });
    assert.equal(created.status, 201);
    const { id } = await created.json() as TuneView;
    // Stop the worker once some trials are recorded and others are not.
    await waitFor(async () => {
      if ((await trialEvents(s, id)).length >= 2) return true;
      throw new Error("fewer than 2 trials recorded");
    }, { deadline: 240_000, intervalMs: 20, message: "trials recorded" });
    await w.stop();
    const recorded = await trialEvents(s, id);
    assert.ok(recorded.length < CANDIDATES, `stopped mid-search: ${recorded.length} of ${CANDIDATES}`);
    assert.ok(recorded.every((t) => t.attempt === 1));

    w = worker(s);
    const tune = await pollTune(s, id);
    assert.equal(tune.status, "succeeded", JSON.stringify(tune.error));
    assert.equal(tune.attempts, 2);
    const trials = await trialEvents(s, id);
    assert.equal(trials.length, CANDIDATES, "each candidate recorded once over both attempts");
    assert.equal(new Set(trials.map((t) => t.key)).size, CANDIDATES);
    const second = trials.filter((t) => t.attempt === 2).map((t) => t.key);
    for (const t of recorded) assert.ok(!second.includes(t.key), `${t.key} ran again`);
    assert.ok(tune.result!.resumed >= recorded.length, JSON.stringify(tune.result));
  } finally {
    await w.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test("POST /v1/tunes refuses bad input with problem+json naming the field, and queues nothing", async () => {
  const inputs = await writeInputs({ pairs: 8, layers: 3 }); // hidden size 24
  const s = await serveApi();
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const small = await uploadPairs(s, inputs.pairsFile);
    const file = join(inputs.dir, "more.jsonl");
    await Deno.writeTextFile(file, pairsJsonl(34)); // 16 held out, 18 for the subspaces
    const pairs = await uploadPairs(s, file);
    const body = (params: Record<string, unknown>, datasetId = pairs) => ({
      model_id: modelId,
      dataset_id: datasetId,
      params,
    });
    const cases: [Record<string, unknown>, number, string][] = [
      [body({ trials: 2, time_seconds: 5 }), 422, "params.time_seconds"],
      [body({}, small), 422, "dataset_id"], // 8 pairs: too few to hold 16 out
      [body({ holdout: 0 }), 422, "params.holdout"],
      [body({ layers_grid: [3] }), 422, "params.layers_grid"],
      [body({ max_rank: 19 }), 422, "params.max_rank"], // more directions than the 18 subspace pairs
      [body({ max_rank: 24 }), 422, "params.max_rank"], // above D − 1 with centering
      [body({ objective: "toxicity" }), 422, "prompts_dataset_id"],
      [body({}, modelId), 404, ""],
    ];
    for (const [request, status, path] of cases) {
      const response = await submitTune(s, request);
      assert.equal(response.status, status, JSON.stringify(request));
      assert.equal(response.headers.get("Content-Type"), "application/problem+json");
      const problem = await response.json() as { errors?: { path: string; message: string }[] };
      if (path) {
        assert.ok(problem.errors?.some((e) => e.path === path), `${path}: ${JSON.stringify(problem)}`);
      }
    }
    const list = await s.call("/v1/tunes");
    assert.deepEqual((await list.json() as { data: unknown[] }).data, [], "nothing was queued");
  } finally {
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
