/**
 * `profs tunes` end to end through real HTTP with an in-process cpu worker: create --follow prints each trial and
 * the chosen point, show/list/events describe it, download fetches the chosen edit's files and tune.json; bad
 * flags fail in one line before the service is asked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { silentLogger } from "../../shared/log.ts";
import { serveApi, writeInputs } from "../worker/harness.ts";
import { jsonOf, ok, profs } from "./run_profs.ts";

Deno.test("profs tunes create --follow, show, list, events and download: the service's profs tune", async () => {
  const inputs = await writeInputs({ pairs: 40, layers: 3 });
  const s = await serveApi();
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
  try {
    const model = (await ok(s, ["models", "upload", inputs.modelDir, "--name", "tiny"])).stdout;
    const dataset = jsonOf(await ok(s, ["datasets", "upload", inputs.pairsFile, "--json"])).id;
    const args = ["tunes", "create", "--model", model, "--dataset", dataset, "--max-rank", "2"];
    const followed = await ok(s, [
      ...args,
      "--layers-grid",
      "1,2",
      "--centering",
      "on",
      "--max-tokens",
      "16",
      "--follow",
    ]);
    // 2 ranges × ranks 1..2 × centering on: four trial lines, then the choice.
    assert.equal(followed.stderr.match(/^trial \d:3\/r\d\/c1: margin gain /gm)?.length, 4, followed.stderr);
    assert.match(followed.stdout, /succeeded/);
    assert.match(followed.stdout, /searched 4 of 4 candidates/);
    assert.match(followed.stdout, /chose layers [12]:3, rank [12], centering on: margin gain /);
    assert.match(followed.stdout, /artifact tune\.json/);

    const listed = jsonOf(await ok(s, ["tunes", "list", "--json"])).data;
    assert.equal(listed.length, 1);
    const tune = listed[0];
    assert.equal(tune.status, "succeeded");
    assert.deepEqual(tune.params.layers_grid, [1, 2]);
    const shown = jsonOf(await ok(s, ["tunes", "show", tune.id, "--json"]));
    assert.equal(shown.result.chosen.key, tune.result.chosen.key);
    const events = jsonOf(await ok(s, ["tunes", "events", tune.id, "--json"])).data;
    assert.equal(events.filter((e: { type: string }) => e.type === "trial").length, 4);

    const out = join(inputs.dir, "tune-out");
    const files = jsonOf(await ok(s, ["tunes", "download", tune.id, "--out", out, "--json"])).data;
    assert.deepEqual(
      files.map((f: { name: string }) => f.name).sort(),
      tune.artifacts.map((a: { name: string }) => a.name).sort(),
    );
    const doc = JSON.parse(await Deno.readTextFile(join(out, "tune.json")));
    assert.equal(doc.chosen.key, tune.result.chosen.key);

    const bad = await profs(s, [...args, "--trials", "3", "--time", "10"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^profs tunes: Cannot tune as at most one of '--trials' and '--time' may be given$/,
    );
    assert.match(
      (await profs(s, [...args, "--layers-grid", "1;2"])).stderr,
      /'--layers-grid' must be 1 to 64 layer starts or FROM:TO ranges .*: current value is '1;2'$/m,
    );
    assert.match(
      (await profs(s, [...args, "--centering", "sometimes"])).stderr,
      /'--centering' must be on, off or both: current value is 'sometimes'$/m,
    );
    assert.match(
      (await profs(s, [...args, "--max-rank", "65"])).stderr,
      /'--max-rank' must be an integer from 1 to 64/,
    );
    assert.equal(jsonOf(await ok(s, ["tunes", "list", "--json"])).data.length, 1, "nothing more was queued");
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
