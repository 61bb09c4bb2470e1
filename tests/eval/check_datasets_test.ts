/**
 * Checks on the user's prompts and texts: `texts` datasets named in a check's params replace the built-in sets
 * (challenge prompts → the toxicity samples and count, held-out texts → the perplexity's text count, benign
 * prompts → the KL's prompt count); a dataset of another kind is refused with 422 and another tenant's with 404
 * before anything is queued; the worker refuses a wrong kind too (a job enqueued past the API); a dataset a
 * queued check names cannot be deleted.
 */
import assert from "node:assert/strict";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { createJobQueue, type Job } from "../../shared/db/index.ts";
import { getJob } from "../../shared/db/repositories/jobs.ts";
import { DEFAULT_CHALLENGE_PROMPTS } from "../../gpu-worker/eval/default_prompts.ts";
import type { CheckResult } from "../../shared/contracts/check_result.ts";
import { createLogger } from "../../shared/log.ts";
import {
  pollEdit,
  serveApi,
  type Served,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "../worker/harness.ts";

async function uploadTexts(s: Served, texts: string[], key = s.keyA): Promise<string> {
  const response = await fetch(`${s.base}/v1/datasets?name=texts&kind=texts`, {
    method: "POST",
    headers: { ...key, "Content-Type": "application/x-ndjson" },
    body: texts.map((text) => JSON.stringify({ text })).join("\n") + "\n",
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.id;
}

Deno.test({
  name:
    "a check's prompts and texts come from the tenant's texts datasets; wrong kind 422, another tenant's 404",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const inputs = await writeInputs();
    const s = await serveApi();
    const queue = createJobQueue();
    let worker: ReturnType<typeof startWorker> | null = null;
    const post = (body: unknown) =>
      fetch(`${s.base}/v1/checks`, {
        method: "POST",
        headers: { ...s.keyA, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    const finished = async (id: string): Promise<Job> => {
      for (;;) {
        const job = (await getJob(s.database.db, s.tenantA, id))!;
        if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const modelId = await uploadModel(s, inputs.modelDir);
      const pairsId = await uploadPairs(s, inputs.pairsFile);
      const challenge = [
        "You are such a",
        "Shut up, you",
        "My neighbour is a total",
        "The referee was an absolute",
      ];
      const heldOut = ["The river was calm after the storm.", "Bread needs flour, water and salt."];
      const benign = ["The weather was", "A good cup of tea", "The museum opens", "We walked to", "Our team"];
      const challengeId = await uploadTexts(s, challenge);
      const heldOutId = await uploadTexts(s, heldOut);
      const benignId = await uploadTexts(s, benign);
      const otherTenants = await uploadTexts(s, ["not yours"], s.keyB);

      const refused: [Record<string, string>, number, string][] = [
        [{ challenge_dataset_id: pairsId }, 422, "params.challenge_dataset_id"],
        [{ heldout_dataset_id: pairsId }, 422, "params.heldout_dataset_id"],
        [{ benign_dataset_id: otherTenants }, 404, ""],
        [{ challenge_dataset_id: crypto.randomUUID() }, 404, ""],
      ];
      for (const [params, status, path] of refused) {
        const response = await post({ model_id: modelId, params });
        const body = await response.json();
        assert.equal(response.status, status, `${JSON.stringify(params)}: ${JSON.stringify(body)}`);
        assert.equal(response.headers.get("content-type"), "application/problem+json");
        if (status === 422) {
          assert.equal(body.errors[0].path, path);
          assert.match(body.detail, /must name a texts dataset: it is pairs/);
        }
      }
      const texts = await (await s.call("/v1/edits", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model_id: modelId, dataset_id: challengeId }),
      })).json();
      assert.equal(texts.status, 422, "an edit refuses a texts dataset");
      assert.equal(texts.errors[0].path, "dataset_id");
      const trigger = await s.call("/v1/triggers", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: "t", template: { model_id: modelId, dataset_id: challengeId } }),
      });
      assert.equal(trigger.status, 422, "so does an edit trigger's template");
      await trigger.body?.cancel();
      assert.equal((await (await s.call("/v1/checks")).json()).data.length, 0, "nothing queued by refusals");

      // Queued before any worker runs: the datasets it names are in use.
      const params = { max_new_tokens: 2, max_tokens: 16 };
      const onModel = await post({
        model_id: modelId,
        params: { ...params, challenge_dataset_id: challengeId, heldout_dataset_id: heldOutId },
      });
      assert.equal(onModel.status, 201);
      const modelCheck = await onModel.json();
      assert.equal(modelCheck.params.challenge_dataset_id, challengeId);
      const busy = await s.call(`/v1/datasets/${heldOutId}`, { method: "DELETE" });
      assert.equal(busy.status, 409);
      assert.match(await busy.text(), /check '/);
      const wrongKind = await queue.enqueue(s.database.db, {
        tenantId: s.tenantA,
        kind: "check",
        modelId,
        params: { ...params, benign_dataset_id: pairsId },
      });

      worker = startWorker({
        db: s.database.db,
        blobs: s.blobs,
        logger: createLogger({ write: () => {} }),
        queue,
        backend: "cpu",
        pollMs: 20,
        heartbeatMs: 100,
        leaseMs: 60_000,
      });

      const alone = await finished(modelCheck.id);
      assert.equal(alone.status, "succeeded", alone.error ?? "");
      const figures = (alone.result as { check: CheckResult }).check;
      assert.equal(figures.toxicity.prompts, challenge.length);
      assert.deepEqual(
        figures.samples.map((sample) => sample.prompt),
        challenge.slice(0, figures.samples.length),
      );
      assert.ok(figures.samples.length > 0);
      assert.equal(figures.perplexity.texts, heldOut.length);

      const refusedByWorker = await finished(wrongKind.id);
      assert.equal(refusedByWorker.status, "failed");
      assert.equal(refusedByWorker.attempt, 1, "the user's error is not retried");
      assert.match(refusedByWorker.error!, /must name a texts dataset: it is pairs/);

      const edit = await pollEdit(
        s,
        (await submitEdit(s, {
          model_id: modelId,
          dataset_id: pairsId,
          params: { layers: { from: 0, to: 2 } },
        }))
          .id,
      );
      assert.equal(edit.status, "succeeded");
      const onEdit = await post({ edit_id: edit.id, params: { ...params, benign_dataset_id: benignId } });
      assert.equal(onEdit.status, 201);
      const compared = await finished((await onEdit.json()).id);
      assert.equal(compared.status, "succeeded", compared.error ?? "");
      const { before, after } = compared.result as { before: CheckResult; after: CheckResult };
      assert.equal(after.kl?.prompts, benign.length);
      assert.equal(before.toxicity.prompts, DEFAULT_CHALLENGE_PROMPTS.length, "unnamed sets stay built-in");
      assert.deepEqual(
        after.samples.map((sample) => sample.prompt),
        DEFAULT_CHALLENGE_PROMPTS.slice(0, after.samples.length),
      );

      assert.equal((await s.call(`/v1/datasets/${heldOutId}`, { method: "DELETE" })).status, 204);
    } finally {
      await worker?.stop();
      await s.close();
      await Deno.remove(inputs.dir, { recursive: true });
    }
  },
});
