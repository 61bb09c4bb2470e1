/**
 * The LM engine's kernels (rms_norm, layer_norm, rotary, attention, kv_write, activation, bias_add, residual_add,
 * mean_pool, embed_rows) against their twins on shapes that break naive kernels: T = 1, sizes not a multiple of
 * 4 or of the workgroup, more keys than one tile, grouped-query heads, partial rotary, padding; plus twin-only
 * checks of what the twins promise.
 */
import assert from "node:assert/strict";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import type { ComputeBatch, Gpu } from "../../gpu-worker/runtime/mod.ts";
import { encodeRmsNorm, rmsNormCpu } from "../../gpu-worker/kernels/rms_norm.ts";
import { encodeLayerNorm, layerNormCpu } from "../../gpu-worker/kernels/layer_norm.ts";
import { encodeRotary, rotaryCpu, type RotaryShape, rotaryTable } from "../../gpu-worker/kernels/rotary.ts";
import { attentionCpu, type AttentionShape, encodeAttention } from "../../gpu-worker/kernels/attention.ts";
import { encodeKvWrite, kvWriteCpu } from "../../gpu-worker/kernels/kv_write.ts";
import { type Activation, activationCpu, encodeActivation } from "../../gpu-worker/kernels/activation.ts";
import { biasAddCpu, encodeBiasAdd } from "../../gpu-worker/kernels/bias_add.ts";
import { encodeResidualAdd, residualAddCpu } from "../../gpu-worker/kernels/residual_add.ts";
import { encodeMeanPool, meanPoolCpu } from "../../gpu-worker/kernels/mean_pool.ts";
import { embedRowsCpu, encodeEmbedRows } from "../../gpu-worker/kernels/embed_rows.ts";
import { encodeLogProb, logProbCpu } from "../../gpu-worker/kernels/log_prob.ts";
import type { WeightDtype } from "../../gpu-worker/kernels/linear.ts";
import { randomArray, testGpu } from "./kernel_harness.ts";
import { rotaryInvFreq } from "../../gpu-worker/lm/family.ts";
import { storedWords } from "./stored_words.ts";

// Element-wise and row kernels in f32 against twins that sum in float64 over ≤ ~1000 values in [-1, 1):
// the f32 rounding of the sums stays below 1e-5.
const TOL = { atol: 1e-5, rtol: 1e-5 };

type Data = Float32Array | Uint32Array;

/** Uploads inputs (and outputs given as initial contents), records, submits, reads the outputs back. */
async function run(
  inputs: Record<string, Data>,
  outputs: Record<string, number | Float32Array>,
  record: (gpu: Gpu, batch: ComputeBatch, b: Record<string, GPUBuffer>) => Promise<void>,
): Promise<Record<string, Float32Array>> {
  const gpu = await testGpu();
  const b: Record<string, GPUBuffer> = {};
  for (const [name, data] of Object.entries(inputs)) b[name] = gpu.upload(data, name);
  for (const [name, o] of Object.entries(outputs)) {
    b[name] = typeof o === "number" ? gpu.storage(o * 4, name) : gpu.upload(o, name);
  }
  try {
    const batch = gpu.batch("test");
    await record(gpu, batch, b);
    await batch.submit();
    const names = Object.keys(outputs);
    const lengths = names.map((n) =>
      typeof outputs[n] === "number" ? outputs[n] as number : (outputs[n] as Data).length
    );
    const values = await gpu.read(names.map((n, i) => ({ buffer: b[n], length: lengths[i] })));
    return Object.fromEntries(names.map((n, i) => [n, values[i]]));
  } finally {
    gpu.release(...Object.values(b));
  }
}

/** Inverse frequencies of plain rotary (θ = 10000) over `rotaryDim`. */
function invFreq(rotaryDim: number): Float64Array {
  return rotaryInvFreq({ kind: "rotary", convention: "half-split", rotaryDim, theta: 10000, scaling: null });
}

/** Deterministic integers in [0, bound). */
function randomInts(length: number, bound: number, seed: number): Uint32Array {
  return Uint32Array.from(
    randomArray(length, seed),
    (v) => Math.min(bound - 1, Math.floor((v + 1) / 2 * bound)),
  );
}

Deno.test({
  name: "rms_norm matches its twin with and without a weight offset, per row and per head (Qwen3 q/k norm)",
  ignore: noGpu(),
  async fn() {
    // [rows, cols]: T = 1, ragged, more columns than the 64 threads, and [R·heads, headSize] = [2·3, 7].
    for (const [rows, cols] of [[1, 5], [7, 130], [6, 7]]) {
      for (const weightOffset of [0, 1]) {
        const shape = { rows, cols, eps: 1e-6, weightOffset };
        const x = randomArray(rows * cols, rows + cols);
        const weight = randomArray(cols, cols);
        const { out } = await run(
          { x, weight },
          { out: rows * cols },
          (g, batch, b) => encodeRmsNorm(g, batch, { x: b.x, weight: b.weight, out: b.out }, shape),
        );
        assertClose(out, rmsNormCpu(x, weight, shape), {
          ...TOL,
          label: `rms_norm ${JSON.stringify(shape)}`,
        });
      }
    }
  },
});

Deno.test({
  name: "layer_norm matches its twin on T = 1 and ragged rows",
  ignore: noGpu(),
  async fn() {
    for (const [rows, cols] of [[1, 5], [9, 131]]) {
      const shape = { rows, cols, eps: 1e-5 };
      const x = randomArray(rows * cols, rows * 7 + cols);
      const gamma = randomArray(cols, 3);
      const beta = randomArray(cols, 4);
      const { out } = await run(
        { x, gamma, beta },
        { out: rows * cols },
        (g, batch, b) =>
          encodeLayerNorm(g, batch, { x: b.x, gamma: b.gamma, beta: b.beta, out: b.out }, shape),
      );
      assertClose(out, layerNormCpu(x, gamma, beta, shape), { ...TOL, label: `layer_norm ${rows}×${cols}` });
    }
  },
});

Deno.test("rotaryCpu leaves position 0 and the columns past rotaryDim unchanged, and keeps each pair's norm", () => {
  const shape: RotaryShape = {
    rows: 2,
    heads: 2,
    headDim: 10,
    rotaryDim: 6,
    positions: 4,
    interleaved: false,
  };
  const table = rotaryTable(invFreq(6), 4);
  const x = randomArray(2 * 2 * 10, 9);
  for (const interleaved of [false, true]) {
    const y = rotaryCpu(x, Uint32Array.of(0, 3), table, { ...shape, interleaved });
    assert.deepEqual([...y.subarray(0, 20)], [...x.subarray(0, 20)], "position 0 is the identity");
    for (const h of [0, 1]) {
      const base = 20 + h * 10;
      assert.deepEqual([...y.subarray(base + 6, base + 10)], [...x.subarray(base + 6, base + 10)], "partial");
      const pair = interleaved ? [base + 2, base + 3] : [base + 1, base + 4];
      assertClose([Math.hypot(y[pair[0]], y[pair[1]])], [Math.hypot(x[pair[0]], x[pair[1]])], {
        atol: 1e-6,
        label: "rotation keeps the pair's norm",
      });
    }
  }
});

Deno.test({
  name: "rotary matches its twin half-split and interleaved, full and partial rotary_dim",
  ignore: noGpu(),
  async fn() {
    const cases: RotaryShape[] = [
      { rows: 1, heads: 1, headDim: 4, rotaryDim: 4, positions: 1, interleaved: false }, // T = 1
      { rows: 5, heads: 3, headDim: 10, rotaryDim: 6, positions: 9, interleaved: false }, // partial, ragged
      { rows: 5, heads: 3, headDim: 10, rotaryDim: 6, positions: 9, interleaved: true }, // GPT-J style
      { rows: 70, heads: 2, headDim: 64, rotaryDim: 64, positions: 300, interleaved: true },
    ];
    for (const shape of cases) {
      const table = rotaryTable(
        invFreq(shape.rotaryDim),
        shape.positions,
      );
      const pos = randomInts(shape.rows, shape.positions, shape.rows);
      const x0 = randomArray(shape.rows * shape.heads * shape.headDim, shape.headDim);
      const { x } = await run(
        { pos, table },
        { x: x0 },
        (g, batch, b) => encodeRotary(g, batch, { x: b.x, pos: b.pos, table: b.table }, shape),
      );
      assertClose(x, rotaryCpu(x0, pos, table, shape), { ...TOL, label: `rotary ${JSON.stringify(shape)}` });
    }
  },
});

Deno.test("rotaryCpu refuses a position past the table with the rule and the value", () => {
  const shape: RotaryShape = {
    rows: 1,
    heads: 1,
    headDim: 2,
    rotaryDim: 2,
    positions: 3,
    interleaved: false,
  };
  assert.throws(
    () => rotaryCpu(new Float32Array(2), Uint32Array.of(3), new Float32Array(6), shape),
    /each position must be < 3: row 0 has 3/,
  );
  assert.throws(
    () => rotaryCpu(new Float32Array(2), Uint32Array.of(0), new Float32Array(6), { ...shape, rotaryDim: 3 }),
    /'rotaryDim' must be even/,
  );
});

/** A causal prefill of `lengths` texts padded to T (K/V projected into [B, T, KVH·hd]) and its rows' inputs. */
function prefill(lengths: number[], tokens: number) {
  const seq: number[] = [];
  const keyCount: number[] = [];
  lengths.forEach((_, b) => {
    for (let t = 0; t < tokens; t++) {
      seq.push(b);
      keyCount.push(t + 1); // padding rows (t ≥ length) are computed and ignored; real rows never see them
    }
  });
  return { seq: Uint32Array.from(seq), keyCount: Uint32Array.from(keyCount) };
}

Deno.test("attentionCpu: grouped-query heads equal multi-head attention with each kv head repeated", () => {
  const [rows, heads, kvHeads, hd, capacity] = [3, 4, 2, 5, 3];
  const q = randomArray(rows * heads * hd, 1);
  const k = randomArray(capacity * kvHeads * hd, 2);
  const v = randomArray(capacity * kvHeads * hd, 3);
  const repeat = (c: Float32Array) =>
    Float32Array.from({ length: capacity * heads * hd }, (_, i) => {
      const [j, h, d] = [Math.floor(i / (heads * hd)), Math.floor(i / hd) % heads, i % hd];
      return c[(j * kvHeads + Math.floor(h / 2)) * hd + d];
    });
  const { seq, keyCount } = prefill([3], 3);
  const shape = { rows, heads, kvHeads, headDim: hd, capacity, scale: 1 / Math.sqrt(hd) };
  assertClose(
    attentionCpu(q, k, v, seq, keyCount, shape),
    attentionCpu(q, repeat(k), repeat(v), seq, keyCount, { ...shape, kvHeads: heads }),
    { atol: 1e-7, label: "GQA = MHA with repeated kv heads" },
  );
});

Deno.test({
  name: "attention matches its twin: T = 1, padded prefill, grouped-query heads, and more keys than one tile",
  ignore: noGpu(),
  async fn() {
    const cases: Array<
      { shape: Omit<AttentionShape, "rows" | "scale">; lengths: number[]; decode?: number[] }
    > = [
      { shape: { heads: 1, kvHeads: 1, headDim: 3, capacity: 1 }, lengths: [1] }, // T = 1
      { shape: { heads: 4, kvHeads: 2, headDim: 7, capacity: 5 }, lengths: [5, 3] }, // GQA, padding
      { shape: { heads: 3, kvHeads: 1, headDim: 130, capacity: 6 }, lengths: [6] }, // head > 64 threads
      { shape: { heads: 2, kvHeads: 2, headDim: 8, capacity: 150 }, lengths: [150, 70] }, // three key tiles
      { shape: { heads: 4, kvHeads: 1, headDim: 16, capacity: 200 }, lengths: [], decode: [200, 129, 1] }, // decode
      { shape: { heads: 1, kvHeads: 1, headDim: 4, capacity: 1500 }, lengths: [], decode: [1500, 1025] }, // > 1,024 keys
    ];
    for (const { shape: s, lengths, decode } of cases) {
      const { capacity, kvHeads, headDim: hd } = s;
      const rows = decode ? decode.length : lengths.length * capacity;
      const slots = decode ? decode.length : lengths.length;
      const inputs = decode
        ? { seq: Uint32Array.from(decode, (_, i) => i), keyCount: Uint32Array.from(decode) }
        : prefill(lengths, capacity);
      const shape: AttentionShape = { ...s, rows, scale: 1 / Math.sqrt(hd) };
      const q = randomArray(rows * s.heads * hd, rows + hd);
      const kCache = randomArray(slots * capacity * kvHeads * hd, 5).map((v) => 3 * v); // scores of a few units
      const vCache = randomArray(slots * capacity * kvHeads * hd, 6);
      const { out } = await run(
        { q, kCache, vCache, ...inputs },
        { out: rows * s.heads * hd },
        (g, batch, b) =>
          encodeAttention(g, batch, {
            q: b.q,
            kCache: b.kCache,
            vCache: b.vCache,
            seq: b.seq,
            keyCount: b.keyCount,
            out: b.out,
          }, shape),
      );
      // The online softmax rescales per tile in f32; against the float64 plain softmax 1e-5 covers 1,500 keys.
      assertClose(out, attentionCpu(q, kCache, vCache, inputs.seq, inputs.keyCount, shape), {
        ...TOL,
        label: `attention ${JSON.stringify(shape)}`,
      });
    }
  },
});

Deno.test({
  name: "attention never reads keys or values past keyCount (NaN there changes nothing)",
  ignore: noGpu(),
  async fn() {
    const shape: AttentionShape = { rows: 1, heads: 2, kvHeads: 1, headDim: 4, capacity: 70, scale: 0.5 };
    const q = randomArray(8, 1);
    const kCache = randomArray(70 * 4, 2);
    const vCache = randomArray(70 * 4, 3);
    const poisoned = (c: Float32Array) => c.map((v, i) => i >= 65 * 4 ? NaN : v);
    const inputs = { seq: Uint32Array.of(0), keyCount: Uint32Array.of(65) };
    const { out } = await run(
      { q, kCache: poisoned(kCache), vCache: poisoned(vCache), ...inputs },
      { out: 8 },
      (g, batch, b) =>
        encodeAttention(g, batch, {
          q: b.q,
          kCache: b.kCache,
          vCache: b.vCache,
          seq: b.seq,
          keyCount: b.keyCount,
          out: b.out,
        }, shape),
    );
    assertClose(out, attentionCpu(q, kCache, vCache, inputs.seq, inputs.keyCount, shape), {
      ...TOL,
      label: "masked",
    });
  },
});

Deno.test("attention refuses kv heads that do not divide the heads, and a head over 256", () => {
  const one = new Float32Array(1);
  const ids = Uint32Array.of(0);
  const shape: AttentionShape = { rows: 1, heads: 3, kvHeads: 2, headDim: 1, capacity: 1, scale: 1 };
  assert.throws(
    () => attentionCpu(one, one, one, ids, Uint32Array.of(1), shape),
    /'kvHeads' must divide heads \(3\): current value is 2/,
  );
  assert.throws(
    () => attentionCpu(one, one, one, ids, Uint32Array.of(1), { ...shape, kvHeads: 1, headDim: 257 }),
    /'headDim' must be ≤ 256: current value is 257/,
  );
});

Deno.test({
  name: "kv_write places each row at its sequence's position and leaves the rest of the cache",
  ignore: noGpu(),
  async fn() {
    const shape = { rows: 3, width: 5, capacity: 4 };
    const src = randomArray(15, 1);
    const seq = Uint32Array.of(1, 0, 1);
    const pos = Uint32Array.of(3, 0, 1);
    const cache0 = randomArray(2 * 4 * 5, 2);
    const { cache } = await run(
      { src, seq, pos },
      { cache: cache0 },
      (g, batch, b) => encodeKvWrite(g, batch, { src: b.src, seq: b.seq, pos: b.pos, cache: b.cache }, shape),
    );
    assert.deepEqual([...cache], [...kvWriteCpu(cache0.slice(), src, seq, pos, shape)]);
  },
});

Deno.test({
  name: "activation: GELU-tanh, ReLU and SwiGLU match their twins, with no NaN at large |x|",
  ignore: noGpu(),
  async fn() {
    for (const kind of ["gelu_tanh", "relu", "swiglu"] as Activation[]) {
      for (const length of [1, 1001]) {
        const x0 = randomArray(length, length).map((v, i) => i === 0 ? -100 : i === 1 ? 100 : 8 * v);
        const up = randomArray(length, 3);
        const shape = { length, kind };
        const { x } = await run(
          { up },
          { x: x0 },
          (g, batch, b) =>
            encodeActivation(g, batch, { x: b.x, up: kind === "swiglu" ? b.up : undefined }, shape),
        );
        assertClose(x, activationCpu(x0, up, shape), { ...TOL, label: `${kind} ×${length}` });
      }
    }
  },
});

Deno.test({
  name: "bias_add and residual_add match their twins on ragged sizes",
  ignore: noGpu(),
  async fn() {
    for (const [rows, cols] of [[1, 1], [3, 5], [7, 301]]) {
      const x0 = randomArray(rows * cols, rows);
      const bias = randomArray(cols, cols);
      const y = randomArray(rows * cols, cols + 1);
      const { x } = await run(
        { bias },
        { x: x0 },
        (g, batch, b) => encodeBiasAdd(g, batch, { x: b.x, bias: b.bias }, { rows, cols }),
      );
      assertClose(x, biasAddCpu(x0, bias, { rows, cols }), { ...TOL, label: `bias ${rows}×${cols}` });
      const { x: sum } = await run(
        { y },
        { x: x0 },
        (g, batch, b) => encodeResidualAdd(g, batch, { x: b.x, y: b.y }, { length: rows * cols }),
      );
      assertClose(sum, residualAddCpu(x0, y, { length: rows * cols }), {
        ...TOL,
        label: `residual ${rows * cols}`,
      });
    }
  },
});

Deno.test({
  name: "mean_pool averages only each text's real tokens into the rows it is given",
  ignore: noGpu(),
  async fn() {
    const shape = { seqs: 3, tokens: 4, dim: 5, outRow: 3 };
    const x = randomArray(3 * 4 * 5, 1).map((v, i) => (i % 20) >= 10 && i >= 20 && i < 40 ? NaN : v);
    const lengths = Uint32Array.of(4, 1, 2); // text 1's padding rows are NaN and must not count
    const { out } = await run(
      { x, lengths },
      { out: 2 * 3 * 5 },
      (g, batch, b) => encodeMeanPool(g, batch, { x: b.x, lengths: b.lengths, out: b.out }, shape),
    );
    assertClose(out.subarray(15), meanPoolCpu(x, lengths, shape), { ...TOL, label: "pooled rows 3..5" });
  },
});

Deno.test({
  name: "embed_rows gathers F32, F16 and BF16 rows across table slices and adds positions",
  ignore: noGpu(),
  async fn() {
    const [vocab, dim, rows] = [11, 5, 7];
    const ids = Uint32Array.of(0, 10, 5, 6, 3, 10, 1);
    const posIds = Uint32Array.of(2, 3, 4, 2, 3, 4, 5); // positions + an offset such as OPT's 2
    for (const dtype of ["F32", "F16", "BF16"] as WeightDtype[]) {
      const table = randomArray(vocab * dim, 1);
      const lo = storedWords(table.subarray(0, 6 * dim), dtype); // rows 0..5
      const hi = storedWords(table.subarray(6 * dim), dtype); // rows 6..10
      const wpe = storedWords(randomArray(8 * dim, 2), dtype);
      const base = { rows, dim, dtype };
      const { out } = await run({ ids, posIds, lo, hi, wpe }, { out: rows * dim }, async (g, batch, b) => {
        await encodeEmbedRows(g, batch, { ids: b.ids, table: b.lo, out: b.out }, {
          ...base,
          tableRows: 6,
          accumulate: false,
        });
        await encodeEmbedRows(g, batch, { ids: b.ids, table: b.hi, out: b.out }, {
          ...base,
          start: 6,
          tableRows: 5,
          accumulate: false,
        });
        await encodeEmbedRows(g, batch, { ids: b.posIds, table: b.wpe, out: b.out }, {
          ...base,
          tableRows: 8,
          accumulate: true,
        });
      });
      const expected = new Float32Array(rows * dim);
      embedRowsCpu(expected, ids, lo, { ...base, tableRows: 6, accumulate: false });
      embedRowsCpu(expected, ids, hi, { ...base, start: 6, tableRows: 5, accumulate: false });
      embedRowsCpu(expected, posIds, wpe, { ...base, tableRows: 8, accumulate: true });
      assertClose(out, expected, { atol: 0, label: `embed_rows ${dtype}` });
    }
  },
});

Deno.test({
  name: "log_prob matches its twin on T = 1 and a vocabulary wider than the workgroup",
  ignore: noGpu(),
  async fn() {
    for (const [rows, vocab] of [[1, 3], [5, 379]]) {
      const logits = randomArray(rows * vocab, vocab).map((v) => 10 * v);
      const targets = randomInts(rows, vocab, rows);
      const { out } = await run(
        { logits, targets },
        { out: rows },
        (g, batch, b) =>
          encodeLogProb(g, batch, { logits: b.logits, targets: b.targets, out: b.out }, { rows, vocab }),
      );
      // log-sum-exp over ≤ 379 values in f32 against float64: 1e-5 absolute on values of a few units.
      assertClose(out, logProbCpu(logits, targets, { rows, vocab }), {
        ...TOL,
        label: `log_prob ${rows}×${vocab}`,
      });
    }
  },
});
