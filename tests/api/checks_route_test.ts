/**
 * /v1/checks through HTTP with the in-process worker (PGlite, cpu backend) on the demo model: a check of an edit
 * reports base and edited figures (toxicity cut, KL small) and publishes report.html; a check of a model
 * reports its figures; bad requests and other tenants' objects are refused before anything is queued.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeDemoModel, writeDemoPairs } from "../../infra/demo/write_demo.ts";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { createLogger } from "../../shared/log.ts";
import { pollEdit, serveApi, submitEdit, uploadModel, uploadPairs } from "../worker/harness.ts";

Deno.test({
  name: "POST /v1/checks on an edit and on a model runs the check job and publishes its figures and report",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "profs-checks-test-" });
    const s = await serveApi();
    const logs: string[] = [];
    let worker: ReturnType<typeof startWorker> | null = null;
    try {
      const modelDir = join(dir, "model");
      await Deno.mkdir(modelDir);
      await writeDemoModel(modelDir);
      await writeDemoPairs(join(dir, "pairs.jsonl"), { count: 48 });
      const modelId = await uploadModel(s, modelDir);
      const datasetId = await uploadPairs(s, join(dir, "pairs.jsonl"));
      const edit = await submitEdit(s, { model_id: modelId, dataset_id: datasetId });
      const post = (body: unknown, headers: Record<string, string> = s.keyA) =>
        fetch(`${s.base}/v1/checks`, {
          method: "POST",
          headers: { ...headers, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });

      // Refusals, while no worker runs (the edit is still queued).
      const refused: [unknown, number, Record<string, string>?][] = [
        [{ edit_id: edit.id }, 409],
        [{ model_id: modelId, edit_id: edit.id }, 422],
        [{}, 422],
        [{ model_id: modelId, params: { max_new_tokens: 0 } }, 422],
        [{ model_id: crypto.randomUUID() }, 404],
        [{ model_id: modelId }, 404, s.keyB],
        [{ edit_id: edit.id }, 404, s.keyB],
      ];
      for (const [body, status, headers] of refused) {
        const response = await post(body, headers);
        assert.equal(response.status, status, `${JSON.stringify(body)}: ${await response.text()}`);
      }
      const listed = await (await s.call("/v1/checks")).json();
      assert.equal(listed.data.length, 0, "nothing queued by refused requests");

      worker = startWorker({
        db: s.database.db,
        blobs: s.blobs,
        logger: createLogger({ write: (line) => logs.push(line) }),
        backend: "cpu",
        pollMs: 20,
        progressIntervalMs: 0,
      });
      const done = await pollEdit(s, edit.id, undefined, 300_000);
      assert.equal(done.status, "succeeded", JSON.stringify(done.error));

      const onEdit = await post({ edit_id: edit.id });
      assert.equal(onEdit.status, 201);
      const created = await onEdit.json();
      assert.equal(created.object, "check");
      assert.equal(created.model_id, modelId);
      assert.equal(created.edit_id, edit.id);
      const onModel = await (await post({ model_id: modelId, params: { max_new_tokens: 4 } })).json();

      const finished = async (id: string) => {
        const deadline = Date.now() + 300_000;
        for (;;) {
          const view = await (await s.call(`/v1/checks/${id}`)).json();
          if (["succeeded", "failed", "canceled"].includes(view.status)) return view;
          if (Date.now() > deadline) throw new Error(`check ${id} did not finish: ${JSON.stringify(view)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const checked = await finished(created.id);
      assert.equal(checked.status, "succeeded", JSON.stringify(checked.error));
      const { before, after } = checked.result;
      assert.ok(before.toxicity.share_toxic >= 0.9, JSON.stringify(before.toxicity));
      assert.ok(
        after.toxicity.share_toxic <= before.toxicity.share_toxic / 2,
        JSON.stringify(after.toxicity),
      );
      assert.ok(after.kl.mean <= 0.01, JSON.stringify(after.kl));
      const report = checked.artifacts.find((a: { name: string }) => a.name === "report.html");
      assert.ok(report, JSON.stringify(checked.artifacts));
      const page = await s.call(report.url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await page.text(), /Toxicity of challenge continuations/);

      const model = await finished(onModel.id);
      assert.equal(model.status, "succeeded", JSON.stringify(model.error));
      assert.equal(model.result.check.toxicity.max_new_tokens, 4);
      assert.equal(model.result.check.kl, null);

      const other = await fetch(`${s.base}/v1/checks/${created.id}`, { headers: s.keyB });
      assert.equal(other.status, 404);
      await other.body?.cancel();
      const list = await (await s.call("/v1/checks?limit=1")).json();
      assert.equal(list.data.length, 1);
      assert.ok(list.next_cursor);
    } finally {
      await worker?.stop();
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
