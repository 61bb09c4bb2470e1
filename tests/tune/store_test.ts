/**
 * The CLI's trial store: one trial a line, appended as each finishes; a torn last line (the process died while
 * appending) is cut on load so that trial runs again and the next append starts a whole line; a line that is not
 * a trial elsewhere is refused with its number.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { jsonlTrialStore } from "../../gpu-worker/tune/store.ts";
import type { TrialRecord } from "../../gpu-worker/tune/trial.ts";

const trial = (key: string, index: number): TrialRecord => ({
  key,
  fingerprint: "f",
  layers: { from: 0, to: 2 },
  rank: 1,
  centering: true,
  margin: { mean: 0.1, accuracy: 0.5, gain: 0.05 },
  kl: 0.01,
  perplexity: 10,
  toxicity: null,
  seconds: 1,
  index,
});

Deno.test("a JSONL trial store appends whole lines and survives a torn last line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "trials.jsonl");
    const store = jsonlTrialStore(path);
    assert.deepEqual(await store.load(), []);
    await store.append(trial("0:2/r1/c1", 0));
    await store.append(trial("0:2/r2/c1", 1));
    await Deno.writeTextFile(path, '{"key":"0:2/r3', { append: true }); // died mid-line
    assert.deepEqual((await store.load()).map((t) => t.key), ["0:2/r1/c1", "0:2/r2/c1"]);
    await store.append(trial("0:2/r3/c1", 2));
    assert.deepEqual((await store.load()).map((t) => t.key), ["0:2/r1/c1", "0:2/r2/c1", "0:2/r3/c1"]);
    await Deno.writeTextFile(path, "not json\n" + await Deno.readTextFile(path));
    await assert.rejects(store.load(), /line 1 is not a trial record/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
