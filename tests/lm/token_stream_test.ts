/**
 * Streaming generation: the runners' `onToken` (one code path for both engines, gpu-worker/lm/runner.ts) reports
 * exactly each prompt's generated tokens as they are picked, silent after a stopping EOS; a prompt is tokenized
 * once per run whatever the number of steps; and lm/text_stream.ts turns the tokens into text pieces that are
 * whole characters and concatenate to the final text — for GPT-2's byte-level BPE (characters split over
 * tokens) and a SentencePiece-style decoder (the first piece's `▁` dropped).
 */
import assert from "node:assert/strict";
import {
  createLmCpuRunner,
  type LmRunner,
  type TextTokenizer,
  tokenReporter,
} from "../../gpu-worker/lm/runner.ts";
import { createTextStream } from "../../gpu-worker/lm/text_stream.ts";
import { createLmWebGpuRunner } from "../../gpu-worker/lm/webgpu/runner.ts";
import { folderSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer, type Tokenizer } from "../../shared/model/tokenizer.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { noGpu } from "../helpers/env.ts";
import { testGpu } from "../kernels/kernel_harness.ts";

/** A tokenizer that counts its calls (and can pretend a token is EOS). */
function counting(tokenizer: Tokenizer, eosTokenId = tokenizer.eosTokenId) {
  const calls = { encode: 0, decode: 0 };
  const wrapped: TextTokenizer = {
    encode: (text, max) => (calls.encode++, tokenizer.encode(text, max)),
    decode: (ids) => (calls.decode++, tokenizer.decode(ids)),
    eosTokenId,
  };
  return { calls, wrapped };
}

type MakeRunner = (tokenizer: TextTokenizer) => Promise<LmRunner>;

async function streamingContract(make: MakeRunner, tokenizer: Tokenizer) {
  const prompts = ["you are such a", "the weather today", "I think that"];
  // Tokens reported per prompt = the generation's tokens; tokenized once per prompt, for 3 or 12 steps alike.
  const encodes: number[] = [];
  for (const steps of [3, 12]) {
    const { calls, wrapped } = counting(tokenizer, null);
    const runner = await make(wrapped);
    const heard = prompts.map(() => [] as number[]);
    const generations = await runner.generate(prompts, {
      maxNewTokens: steps,
      stopAtEos: false,
      batchSize: 2,
      onToken: (p, t) => heard[p].push(t),
    });
    runner.dispose();
    assert.deepEqual(heard, generations.map((g) => g.tokens), `${steps} steps: onToken hears each token`);
    assert.ok(generations.every((g) => g.tokens.length === steps));
    encodes.push(calls.encode);
    assert.equal(calls.decode, prompts.length, "one decode per prompt at the end");
  }
  assert.deepEqual(
    encodes,
    [prompts.length, prompts.length],
    "prompts are tokenized once per run, not per step",
  );

  // A stopping EOS: pretend the third greedy token of prompt 0 is EOS; onToken falls silent there.
  const plain = await make(tokenizer);
  const [full] = await plain.generate([prompts[0]], { maxNewTokens: 6, stopAtEos: false });
  plain.dispose();
  const eos = full.tokens[2];
  const cut = full.tokens.slice(0, full.tokens.indexOf(eos));
  const { wrapped } = counting(tokenizer, eos);
  const runner = await make(wrapped);
  const heard: number[] = [];
  const [stopped] = await runner.generate([prompts[0]], {
    maxNewTokens: 6,
    onToken: (_, t) => heard.push(t),
  });
  runner.dispose();
  assert.deepEqual(stopped.tokens, cut);
  assert.deepEqual(heard, cut, "nothing is heard from the EOS on");
}

async function tinyModel() {
  const dir = await Deno.makeTempDir({ prefix: "profs-token-stream-" });
  await writeTinyGpt2(dir, { layers: 2, hidden: 24 });
  const folder = await openModelFolder(dir);
  return { dir, folder, family: lmFamilyFrom(folder.config), tokenizer: await loadTokenizer(dir) };
}

Deno.test("the CPU runner streams each token through onToken and tokenizes each prompt once per run", async () => {
  const m = await tinyModel();
  try {
    await streamingContract((t) => createLmCpuRunner(m.folder, m.family, t), m.tokenizer);
  } finally {
    await m.folder.close();
    await Deno.remove(m.dir, { recursive: true });
  }
});

Deno.test({
  name: "the WebGPU runner streams each token through onToken and tokenizes each prompt once per run",
  ignore: noGpu(),
  async fn() {
    const m = await tinyModel();
    try {
      const gpu = await testGpu();
      await streamingContract(
        (t) => createLmWebGpuRunner(folderSource(m.folder), m.family, t, { gpu }),
        m.tokenizer,
      );
    } finally {
      await m.folder.close();
      await Deno.remove(m.dir, { recursive: true });
    }
  },
});

Deno.test("tokenReporter maps batch rows to prompts and falls silent at each row's EOS", () => {
  const heard: [number, number][] = [];
  const report = tokenReporter([4, 7], 0, (p, t) => heard.push([p, t]))!;
  for (const [row, token] of [[0, 5], [1, 6], [0, 0], [1, 8], [0, 9], [1, 0], [1, 3]]) report(row, token);
  assert.deepEqual(heard, [[4, 5], [7, 6], [7, 8]]);
  assert.equal(tokenReporter([0], 0), undefined, "nobody listens: no reporter");
});

Deno.test("createTextStream: byte-level BPE pieces are whole characters and concatenate to the decoded text", async () => {
  const m = await tinyModel();
  try {
    const text = "naïve café — 世界 says 🙂🙂 hello, 数据 ok";
    const ids = m.tokenizer.encode(text);
    // GPT-2 splits these characters over several byte tokens: some single tokens decode to U+FFFD.
    assert.ok(ids.some((id) => m.tokenizer.decode([id]).includes("\uFFFD")), "the text splits characters");
    const { calls, wrapped } = counting(m.tokenizer);
    const stream = createTextStream(wrapped);
    const pieces = ids.map((id) => stream.push(id));
    pieces.push(stream.end());
    assert.equal(pieces.join(""), m.tokenizer.decode(ids));
    assert.ok(pieces.every((p) => !p.includes("\uFFFD")), JSON.stringify(pieces));
    assert.ok(calls.decode <= 2 * ids.length + 2, `${calls.decode} decodes for ${ids.length} tokens`);
    assert.equal(calls.encode, 0, "nothing is tokenized");
  } finally {
    await m.folder.close();
    await Deno.remove(m.dir, { recursive: true });
  }
});

Deno.test("createTextStream: a SentencePiece-style decoder that drops the first piece's space streams the same text", () => {
  const pieces = ["▁Hello", "▁wor", "ld", "!", "▁x"];
  const decode = (ids: number[]) => ids.map((i) => pieces[i]).join("").replaceAll("▁", " ").replace(/^ /, "");
  const stream = createTextStream({ decode });
  const out = [0, 1, 2, 3, 4].map((id) => stream.push(id));
  out.push(stream.end());
  assert.equal(out.join(""), "Hello world! x");
  assert.deepEqual(out, ["Hello", " wor", "ld", "!", " x", ""]);
});
