/** `profs edit --model org/name`: a Hub id that is not a local folder is fetched (HF_ENDPOINT) and edited. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { pairsJsonl } from "../worker/harness.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

Deno.test("profs edit --model org/name@rev fetches the repo into the Hub cache layout and edits it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-edit-hub-" });
  const modelDir = join(dir, "served");
  await writeTinyGpt2(modelDir, { layers: 2, hidden: 24 });
  const pairs = join(dir, "pairs.jsonl");
  await Deno.writeTextFile(pairs, pairsJsonl(6));
  const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/api/models/org/tiny/revision/v1") {
      return Response.json({
        sha: "feed",
        siblings: [...Deno.readDirSync(modelDir)].map((e) => ({ rfilename: e.name })),
      });
    }
    const file = /^\/org\/tiny\/resolve\/feed\/([\w.-]+)$/.exec(path)?.[1];
    return file ? new Response(await Deno.readFile(join(modelDir, file))) : new Response("", { status: 404 });
  });
  const saved = { HF_ENDPOINT: Deno.env.get("HF_ENDPOINT"), HF_HOME: Deno.env.get("HF_HOME") };
  Deno.env.set("HF_ENDPOINT", `http://127.0.0.1:${hub.addr.port}`);
  Deno.env.set("HF_HOME", join(dir, "hf"));
  const { log } = console;
  console.log = () => {};
  try {
    const out = join(dir, "out");
    const code = await main([
      "edit",
      "--model",
      "org/tiny@v1",
      "--pairs",
      pairs,
      "--out",
      out,
      "--backend",
      "cpu",
      "--layers",
      "0:2",
      "--max-tokens",
      "16",
    ]);
    assert.equal(code, 0);
    assert.ok((await Deno.stat(join(out, "model.safetensors"))).isFile);
    const cached = join(dir, "hf", "hub", "models--org--tiny", "snapshots", "feed", "model.safetensors");
    assert.deepEqual(await Deno.readFile(cached), await Deno.readFile(join(modelDir, "model.safetensors")));
  } finally {
    console.log = log;
    for (const [k, v] of Object.entries(saved)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    await hub.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
