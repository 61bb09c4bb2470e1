/**
 * An LM family's tensors as row-major float32, read one tensor at a time from a model folder (F16/BF16 widened
 * per tensor as read) and checked against the shape the family implies. A block is read whole when it is needed
 * and dropped after; the token embedding is gathered row by row, so the host never holds the [V, D] table for
 * embedding extraction.
 */
import { InputError } from "../../../shared/errors.ts";
import type { LinearTensors, LmFamily, NormTensors } from "../family.ts";

/** The part of a `ModelFolder` (shared/model/folder.ts) the engine reads. */
export interface LmSource {
  /** Any stored float dtype as float32 (canonical or stored names). */
  readTensor(name: string): Promise<Float32Array>;
  /** Rows [start, start + count) of a tensor viewed as [shape[0], rest], as float32. */
  readRows(name: string, start: number, count: number): Promise<Float32Array>;
}

export interface NormWeights {
  weight: Float32Array; // [C]
  bias: Float32Array | null; // [C] (LayerNorm)
}

export interface LinearWeights {
  weight: Float32Array; // [out, in] or [in, out] per LinearTensors.layout
  bias: Float32Array | null; // [out]
}

export interface BlockWeights {
  attnNorm: NormWeights;
  mlpNorm: NormWeights | null;
  qkv: { kind: "separate"; q: LinearWeights; k: LinearWeights; v: LinearWeights } | {
    kind: "fused";
    qkv: LinearWeights;
  };
  qNorm: NormWeights | null;
  kNorm: NormWeights | null;
  o: LinearWeights;
  up: LinearWeights;
  gate: LinearWeights | null;
  down: LinearWeights;
}

export interface HeadWeights {
  finalNorm: NormWeights;
  weight: Float32Array; // [V, D]
  bias: Float32Array | null; // [V]
}

async function readShaped(
  source: LmSource,
  name: string,
  size: number,
  shape: string,
): Promise<Float32Array> {
  const data = await source.readTensor(name);
  if (data.length !== size) {
    throw new InputError(
      `Cannot load tensor '${name}' as it must have shape ${shape} (${size} values) per config.json: it has ${data.length}`,
    );
  }
  return data;
}

async function readNorm(source: LmSource, t: NormTensors): Promise<NormWeights> {
  return {
    weight: await readShaped(source, t.weight, t.size, `[${t.size}]`),
    bias: t.bias ? await readShaped(source, t.bias, t.size, `[${t.size}]`) : null,
  };
}

async function readLinear(source: LmSource, t: LinearTensors): Promise<LinearWeights> {
  const shape = t.layout === "out-in" ? [t.outFeatures, t.inFeatures] : [t.inFeatures, t.outFeatures];
  return {
    weight: await readShaped(source, t.weight, t.inFeatures * t.outFeatures, `[${shape.join(", ")}]`),
    bias: t.bias ? await readShaped(source, t.bias, t.outFeatures, `[${t.outFeatures}]`) : null,
  };
}

export async function loadBlock(source: LmSource, family: LmFamily, layer: number): Promise<BlockWeights> {
  const t = family.block(layer);
  const maybeNorm = (n: NormTensors | null) => n ? readNorm(source, n) : Promise.resolve(null);
  return {
    attnNorm: await readNorm(source, t.attnNorm),
    mlpNorm: await maybeNorm(t.mlpNorm),
    qkv: t.qkv.kind === "fused" ? { kind: "fused", qkv: await readLinear(source, t.qkv.qkv) } : {
      kind: "separate",
      q: await readLinear(source, t.qkv.q),
      k: await readLinear(source, t.qkv.k),
      v: await readLinear(source, t.qkv.v),
    },
    qNorm: await maybeNorm(t.qNorm),
    kNorm: await maybeNorm(t.kNorm),
    o: await readLinear(source, t.o),
    up: await readLinear(source, t.up),
    gate: t.gate ? await readLinear(source, t.gate) : null,
    down: await readLinear(source, t.down),
  };
}

export function loadFinalNorm(source: LmSource, family: LmFamily): Promise<NormWeights> {
  return readNorm(source, family.finalNorm);
}

export async function loadHead(source: LmSource, family: LmFamily): Promise<HeadWeights> {
  const { vocabSize: v, hiddenSize: d } = family;
  return {
    finalNorm: await readNorm(source, family.finalNorm),
    weight: await readShaped(source, family.head.weight, v * d, `[${v}, ${d}]`),
    bias: family.head.bias ? await readShaped(source, family.head.bias, v, `[${v}]`) : null,
  };
}

/** Rows a gather reads at once: 1,024 rows of a 4,096-wide table are 16 MiB of float32. */
const GATHER_CHUNK_ROWS = 1024;

/**
 * out [R, D] = table[ids[r]] for a [rows, D] table in the folder, reading only the chunks of rows that some id
 * falls in (one chunk at a time).
 */
export async function gatherRows(
  source: LmSource,
  name: string,
  ids: Int32Array, // [R]
  shape: { rows: number; dim: number }, // the table's
): Promise<Float32Array> {
  const { rows, dim } = shape;
  const out = new Float32Array(ids.length * dim);
  const byChunk = new Map<number, number[]>(); // chunk → positions in ids
  ids.forEach((id, r) => {
    if (id < 0 || id >= rows) {
      throw new InputError(`Cannot embed token ${id} as token ids must be below ${rows} (rows of '${name}')`);
    }
    const chunk = Math.floor(id / GATHER_CHUNK_ROWS);
    (byChunk.get(chunk) ?? byChunk.set(chunk, []).get(chunk)!).push(r);
  });
  for (const [chunk, positions] of [...byChunk].sort((a, b) => a[0] - b[0])) {
    const start = chunk * GATHER_CHUNK_ROWS;
    const data = await source.readRows(name, start, Math.min(GATHER_CHUNK_ROWS, rows - start));
    for (const r of positions) {
      out.set(data.subarray((ids[r] - start) * dim, (ids[r] - start + 1) * dim), r * dim);
    }
  }
  return out;
}
