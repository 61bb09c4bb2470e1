/** `profs edit --model org/name`: a Hub id that is not a local folder is fetched (HF_ENDPOINT) and edited. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { pairsJsonl } from "../worker/harness.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { serveHub, withEnv } from "../helpers/hub_server.ts";

Deno.test("profs edit --model org/name@rev fetches the repo into the Hub cache layout and edits it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-edit-hub-" });
  const modelDir = join(dir, "served");
  await writeTinyGpt2(modelDir, { layers: 2, hidden: 24 });
  const pairs = join(dir, "pairs.jsonl");
  await Deno.writeTextFile(pairs, pairsJsonl(6));
  const hub = serveHub({ "org/tiny": { dir: modelDir, sha: "feed", revisions: ["v1"] } });
  const { log } = console;
  console.log = () => {};
  try {
    await withEnv({ HF_ENDPOINT: hub.url, HF_HOME: join(dir, "hf"), HF_HUB_CACHE: undefined }, async () => {
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
    });
  } finally {
    console.log = log;
    await hub.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
