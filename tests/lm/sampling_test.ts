/**
 * Sampled generation (gpu-worker/lm/sampling.ts), one picker for both engines: temperature 0 and top-k 1 are the
 * greedy pick; top-p keeps only the nucleus; a seed repeats its draws and another seed draws otherwise; the
 * draws follow the softmax; and the CPU runner samples through it (`profs generate --temperature` too).
 */
import assert from "node:assert/strict";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { greedyPick, samplingPick } from "../../gpu-worker/lm/sampling.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { main } from "../../main.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const LOGITS = Float32Array.from([0, 9, 1, 2, 3, 2.5, 9, -4]); // offset 1: [9, 1, 2, 3, 2.5, 9, -4]

Deno.test("greedy is the first maximum; temperature 0 and top-k 1 pick it too", () => {
  assert.equal(greedyPick(LOGITS, 1, 7), 0);
  assert.equal(samplingPick({ temperature: 0 })(LOGITS, 1, 7), 0);
  const top1 = samplingPick({ temperature: 5, topK: 1, seed: 3 });
  for (let i = 0; i < 50; i++) assert.equal(top1(LOGITS, 1, 7), 0);
});

Deno.test("draws follow softmax(logits / T); top-p keeps only the nucleus; a seed repeats its draws", () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  const counts = [0, 0, 0, 0];
  const pick = samplingPick({ temperature: 1, seed: 11 });
  const n = 20_000;
  for (let i = 0; i < n; i++) counts[pick(logits, 0, 4)]++;
  [0.5, 0.3, 0.15, 0.05].forEach((p, t) =>
    assert.ok(Math.abs(counts[t] / n - p) < 0.02, `token ${t}: ${counts}`)
  );

  const nucleus = samplingPick({ temperature: 1, topP: 0.7, seed: 11 });
  const seen = new Set(Array.from({ length: 2000 }, () => nucleus(logits, 0, 4)));
  assert.deepEqual([...seen].sort(), [0, 1], "0.5 + 0.3 reach 0.7: tokens 2 and 3 are never drawn");

  const draw = (seed: number) => {
    const p = samplingPick({ temperature: 1, seed });
    return Array.from({ length: 40 }, () => p(logits, 0, 4)).join("");
  };
  assert.equal(draw(7), draw(7));
  assert.notEqual(draw(7), draw(8));
});

Deno.test("sampling options out of range are the user's error", () => {
  for (const o of [{ temperature: -1 }, { temperature: 1, topK: 0 }, { temperature: 1, topP: 0 }]) {
    assert.throws(() => samplingPick(o), InputError, JSON.stringify(o));
  }
});

Deno.test("the CPU runner samples with a seed: repeatable, unlike another seed, greedy at temperature 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-sampling-" });
  try {
    await writeTinyGpt2(dir, { layers: 2, hidden: 24, positions: 64, std: 0.5 });
    const folder = await openModelFolder(dir);
    const runner = await createLmCpuRunner(folder, lmFamilyFrom(folder.config), await loadTokenizer(dir));
    const run = (sampling?: { temperature: number; seed?: number }) =>
      runner.generate(["you are", "the weather"], { maxNewTokens: 12, stopAtEos: false, sampling })
        .then((g) => g.map((x) => x.tokens));
    const greedy = await run();
    assert.deepEqual(await run({ temperature: 0 }), greedy);
    const a = await run({ temperature: 1.5, seed: 1 });
    assert.deepEqual(await run({ temperature: 1.5, seed: 1 }), a);
    assert.notDeepEqual(await run({ temperature: 1.5, seed: 2 }), a);
    assert.notDeepEqual(a, greedy);
    runner.dispose();
    await folder.close();

    const out: string[] = [];
    const { log } = console;
    console.log = (...x: unknown[]) => out.push(x.join(" "));
    try {
      const args = [
        "generate",
        "--model",
        dir,
        "--max-new-tokens",
        "6",
        "--temperature",
        "1.5",
        "--seed",
        "4",
      ];
      assert.equal(await main([...args, "--json", "you are"]), 0);
      assert.equal(await main([...args, "--json", "you are"]), 0);
      assert.equal(
        await main(["generate", "--model", dir, "--seed", "4", "you are"]),
        1,
        "--seed needs sampling",
      );
    } finally {
      console.log = log;
    }
    assert.equal(out[0], out[1], "the same seed, the same text");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
