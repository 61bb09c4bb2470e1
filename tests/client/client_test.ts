/**
 * The `profs` client commands end to end through real HTTP: the composed service (tests/api/harness.ts,
 * served on a loopback port) with an in-process cpu worker, and `main([...])` as a user would type it, with
 * PROFS_URL + PROFS_API_KEY set and `--json` output parsed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { silentLogger } from "../../shared/log.ts";
import { serveApi, writeInputs } from "../worker/harness.ts";
import { jsonOf, ok, profs } from "./run_profs.ts";

Deno.test("profs models/datasets/edits/toxicity/keys: the whole service flow from the client commands", async () => {
  const inputs = await writeInputs();
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
    // A model upload that stopped after config.json resumes: the stored file is skipped, the rest is sent.
    const pending = await (await s.call("/v1/models", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "tiny" }),
    })).json();
    await s.call(`/v1/models/${pending.id}/files/config.json`, {
      method: "PUT",
      body: await Deno.readFile(join(inputs.modelDir, "config.json")),
    });
    const upload = await ok(s, ["models", "upload", inputs.modelDir, "--name", "tiny"]);
    assert.equal(upload.stdout, pending.id, "the pending model of the same name is resumed");
    assert.match(upload.stderr, /skip config\.json: already stored/);
    assert.match(upload.stderr, /uploaded model\.safetensors/);
    const model = jsonOf(await ok(s, ["models", "show", pending.id, "--json"]));
    assert.equal(model.status, "ready");
    assert.equal(jsonOf(await ok(s, ["models", "list", "--json"])).data.length, 1);

    const dataset = jsonOf(await ok(s, ["datasets", "upload", inputs.pairsFile, "--json"]));
    assert.equal(dataset.kind, "pairs");
    assert.equal(dataset.rows, 6);

    const edit = jsonOf(
      await ok(s, [
        "edits",
        "create",
        "--model",
        model.id,
        "--dataset",
        dataset.id,
        "--layers",
        "0:2",
        "--rank",
        "2",
        "--max-tokens",
        "16",
        "--follow",
        "--json",
      ]),
    );
    assert.equal(edit.status, "succeeded", JSON.stringify(edit.error));
    const listed = jsonOf(await ok(s, ["edits", "list", "--status", "succeeded", "--json"]));
    assert.deepEqual(listed.data.map((e: { id: string }) => e.id), [edit.id]);
    const shown = await ok(s, ["edits", "show", edit.id]);
    assert.match(shown.stdout, new RegExp(`${edit.id}  succeeded`));
    const events = jsonOf(await ok(s, ["edits", "events", edit.id, "--json"])).data;
    assert.equal(events[0].type, "queued");
    assert.equal(events.at(-1).type, "succeeded");

    // Download everything, then cut one file short and download again: it resumes with Range.
    const out = join(inputs.dir, "download");
    const files = jsonOf(await ok(s, ["edits", "download", edit.id, "--out", out, "--json"])).data;
    assert.deepEqual(
      files.map((f: { name: string }) => f.name).sort(),
      edit.artifacts.map((a: { name: string }) => a.name).sort(),
    );
    const weights = join(out, "model.safetensors");
    const whole = await Deno.readFile(weights);
    await Deno.truncate(weights, 100);
    const again = jsonOf(await ok(s, ["edits", "download", edit.id, "--out", out, "--json"])).data;
    const resumed = again.find((f: { name: string }) => f.name === "model.safetensors");
    assert.equal(resumed.resumed_from, 100);
    assert.deepEqual(await Deno.readFile(weights), whole);
    assert.ok(again.filter((f: { skipped: boolean }) => f.skipped).length >= 1, "complete files are kept");

    const tox = jsonOf(await ok(s, ["toxicity", "have a nice day", "you stupid idiot", "--json"]));
    assert.equal(tox.results.length, 2);
    assert.ok(tox.results[1].score > tox.results[0].score);

    const key = await ok(s, ["keys", "create", "--scopes", "edits:read", "--name", "ro"]);
    const keys = jsonOf(await ok(s, ["keys", "list", "--json"])).data;
    assert.ok(keys.some((k: { name: string }) => k.name === "ro"));
    assert.equal((await profs(s, ["models", "list"], key.stdout)).code, 1, "edits:read only");
    assert.match((await profs(s, ["models", "list"], key.stdout)).stderr, /lacks the scope 'models:read'/);
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test("profs edits cancel cancels a queued edit; a client command without a service says how to set one", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  try {
    const model = jsonOf(await ok(s, ["models", "upload", inputs.modelDir, "--json"]));
    const dataset = jsonOf(await ok(s, ["datasets", "upload", inputs.pairsFile, "--json"]));
    const id = (await ok(s, ["edits", "create", "--model", model.id, "--dataset", dataset.id])).stdout;
    const canceled = jsonOf(await ok(s, ["edits", "cancel", id, "--json"]));
    assert.equal(canceled.status, "canceled");
    // The parameters profs edit takes, passed as the API takes them; a bad one is one line and exit 1.
    const args = ["edits", "create", "--model", model.id, "--dataset", dataset.id];
    const full = jsonOf(
      await ok(s, [...args, "--holdout", "0.3", "--base-model", "org/tiny", "--check", "--json"]),
    );
    assert.equal(full.params.holdout, 0.3);
    assert.equal(full.params.base_model, "org/tiny");
    assert.equal(full.params.check, true);
    await ok(s, ["edits", "cancel", full.id]);
    const refused = await profs(s, [...args, "--holdout", "2"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /'--holdout' must be a share from 0 to 0\.5/);
    const bad = await profs(s, ["edits", "show", "nope"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /HTTP 404/);

    const saved = Deno.env.get("PROFS_URL");
    Deno.env.delete("PROFS_URL");
    Deno.env.set("PROFS_CONFIG", "/nonexistent/profs.json");
    try {
      const printed: string[] = [];
      const { error } = console;
      console.error = (...a: unknown[]) => printed.push(a.join(" "));
      try {
        assert.equal(await main(["models", "list"]), 1);
      } finally {
        console.error = error;
      }
      assert.match(
        printed.join("\n"),
        /PROFS_URL and PROFS_API_KEY must be set \(or run `profs login URL`\)/,
      );
    } finally {
      if (saved) Deno.env.set("PROFS_URL", saved);
      Deno.env.delete("PROFS_CONFIG");
    }
  } finally {
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test("profs models import --local fetches a Hub repo (HF_ENDPOINT, HF_TOKEN) into the Hub's cache layout and uploads it", async () => {
  const inputs = await writeInputs();
  const cache = await Deno.makeTempDir({ prefix: "profs-hf-home-" });
  const seen: string[] = [];
  // A folder served in the Hub's URL layout: the revision's file list, then each file under resolve/.
  const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    seen.push(`${url.pathname} ${request.headers.get("authorization")}`);
    if (url.pathname === "/api/models/org/tiny/revision/main") {
      const siblings = [...Deno.readDirSync(inputs.modelDir)].map((e) => ({ rfilename: e.name }));
      return Response.json({ sha: "abc123", siblings: [...siblings, { rfilename: "sub/ignored.bin" }] });
    }
    const file = /^\/org\/tiny\/resolve\/abc123\/([\w.-]+)$/.exec(url.pathname)?.[1];
    if (!file) return new Response("not found", { status: 404 });
    return new Response(await Deno.readFile(join(inputs.modelDir, file)));
  });
  const s = await serveApi();
  const saved = {
    HF_ENDPOINT: Deno.env.get("HF_ENDPOINT"),
    HF_HOME: Deno.env.get("HF_HOME"),
    HF_TOKEN: Deno.env.get("HF_TOKEN"),
  };
  Deno.env.set("HF_ENDPOINT", `http://127.0.0.1:${hub.addr.port}`);
  Deno.env.set("HF_HOME", cache);
  Deno.env.set("HF_TOKEN", "hf_test");
  try {
    const model = jsonOf(await ok(s, ["models", "import", "org/tiny", "--local", "--json"]));
    assert.equal(model.status, "ready");
    assert.equal(model.name, "org/tiny");
    const snapshot = join(cache, "hub", "models--org--tiny", "snapshots", "abc123");
    assert.deepEqual(
      [...Deno.readDirSync(snapshot)].map((e) => e.name).sort(),
      [...Deno.readDirSync(inputs.modelDir)].map((e) => e.name).sort(),
    );
    assert.ok(seen.every((line) => line.endsWith("Bearer hf_test")), "HF_TOKEN is sent");
    const fetched = seen.length;
    await ok(s, ["models", "import", "org/tiny", "--local", "--name", "again"]);
    assert.equal(seen.length, fetched + 1, "the second import lists the revision and reads the cache");

    const missing = await profs(s, ["models", "import", "org/nope", "--local"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /HTTP 404 \(no such repo, revision or file\)/);
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await s.close();
    await hub.shutdown();
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
