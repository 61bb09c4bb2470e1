/**
 * An LM's weights on the device, one block at a time, in their stored dtype: matrices are uploaded as the
 * safetensors bytes (F32, or F16/BF16 two per u32 word) for the `linear` kernel to widen; norm weights and
 * biases (vectors of D or fewer values) are widened to f32 on the host. The host holds one tensor at a time.
 * GPT-2's fused c_attn [D, 3D] is split into q, k and v on the host (column slices of its rows, still in its
 * dtype), so the engine sees separate projections for every family.
 */
import { InputError } from "../../../shared/errors.ts";
import type { ModelFolder } from "../../../shared/model/folder.ts";
import { type FloatDType, isFloatDType, toFloat32 } from "../../../shared/safetensors/dtype.ts";
import type { DType } from "../../../shared/safetensors/dtype.ts";
import { type WeightDtype, weightWords } from "../../kernels/linear.ts";
import type { Gpu } from "../../runtime/mod.ts";
import type { LinearTensors, LmFamily, NormTensors } from "../family.ts";

/** Stored tensors by canonical name: what a model folder offers, or a test's tensors in memory. */
export interface WeightSource {
  info(name: string): { dtype: DType; shape: number[] };
  /** Stored little-endian bytes, or the byte range [begin, end) of them. */
  bytes(name: string, range?: { begin: number; end: number }): Promise<Uint8Array>;
}

export function folderSource(folder: ModelFolder): WeightSource {
  return {
    info: (name) => folder.tensorInfo(name),
    bytes(name, range) {
      const info = folder.tensorInfo(name);
      return folder.reader(info.file).readBytes(info.name, range);
    },
  };
}

/** y [R, outF] = x [R, inF] · op(w) + bias. */
export interface DeviceLinear {
  w: GPUBuffer; // [outF, inF] (out_in) or [inF, outF] (in_out) in dtype
  dtype: WeightDtype;
  layout: "out_in" | "in_out";
  inF: number;
  outF: number;
  bias: GPUBuffer | null; // [outF] f32
}

export interface DeviceNorm {
  kind: "layernorm" | "rmsnorm";
  weight: GPUBuffer; // [size] f32
  bias: GPUBuffer | null; // [size] f32 (LayerNorm)
  eps: number;
  size: number;
}

export interface DeviceBlock {
  attnNorm: DeviceNorm;
  mlpNorm: DeviceNorm | null;
  q: DeviceLinear;
  k: DeviceLinear;
  v: DeviceLinear;
  qNorm: DeviceNorm | null;
  kNorm: DeviceNorm | null;
  o: DeviceLinear;
  up: DeviceLinear;
  gate: DeviceLinear | null;
  down: DeviceLinear;
}

/** Uploads tensors and remembers the buffers, so one call releases a whole block. */
export class DeviceWeights {
  readonly buffers: GPUBuffer[] = [];
  bytes = 0;

  constructor(readonly gpu: Gpu, readonly source: WeightSource, readonly model = "the model") {}

  /** A float tensor's dtype, checked against the shape the family expects. */
  check(name: string, shape: number[]): FloatDType {
    const info = this.source.info(name);
    if (info.shape.length !== shape.length || info.shape.some((n, i) => n !== shape[i])) {
      throw new InputError(
        `Cannot load ${this.model} as tensor '${name}' must have shape [${shape}] from config.json: has [${info.shape}]`,
      );
    }
    if (!isFloatDType(info.dtype)) {
      throw new InputError(
        `Cannot load ${this.model} as tensor '${name}' must be F32, F16 or BF16: current value is ${info.dtype}`,
      );
    }
    return info.dtype;
  }

  /** Stored words on the device. */
  upload(words: Uint32Array | Float32Array, label: string): GPUBuffer {
    const buffer = this.gpu.upload(words, label);
    this.buffers.push(buffer);
    this.bytes += buffer.size;
    return buffer;
  }

  async vector(name: string, size: number): Promise<GPUBuffer> {
    const dtype = this.check(name, [size]);
    return this.upload(toFloat32(await this.source.bytes(name), dtype), name);
  }

  async norm(t: NormTensors): Promise<DeviceNorm> {
    return {
      kind: t.kind,
      weight: await this.vector(t.weight, t.size),
      bias: t.bias ? await this.vector(t.bias, t.size) : null,
      eps: t.eps,
      size: t.size,
    };
  }

  async linear(t: LinearTensors): Promise<DeviceLinear> {
    const layout = t.layout === "out-in" ? "out_in" : "in_out";
    const shape = layout === "out_in" ? [t.outFeatures, t.inFeatures] : [t.inFeatures, t.outFeatures];
    const dtype = this.check(t.weight, shape);
    return {
      w: this.upload(weightWords(await this.source.bytes(t.weight)), t.weight),
      dtype,
      layout,
      inF: t.inFeatures,
      outF: t.outFeatures,
      bias: t.bias ? await this.vector(t.bias, t.outFeatures) : null,
    };
  }

  /** A fused q|k|v projection split into three, each `outF / 3` wide, in the stored dtype. */
  async splitLinear(t: LinearTensors): Promise<[DeviceLinear, DeviceLinear, DeviceLinear]> {
    const layout = t.layout === "out-in" ? "out_in" : "in_out";
    const [inF, outF] = [t.inFeatures, t.outFeatures];
    const shape = layout === "out_in" ? [outF, inF] : [inF, outF];
    const dtype = this.check(t.weight, shape);
    const size = dtype === "F32" ? 4 : 2;
    const part = outF / 3;
    const bytes = await this.source.bytes(t.weight);
    const bias = t.bias ? toFloat32(await this.source.bytes(t.bias), this.check(t.bias, [outF])) : null;
    return [0, 1, 2].map((j) => {
      const slice = new Uint8Array(part * inF * size);
      if (layout === "out_in") slice.set(bytes.subarray(j * part * inF * size, (j + 1) * part * inF * size));
      else {
        for (let r = 0; r < inF; r++) {
          const from = (r * outF + j * part) * size;
          slice.set(bytes.subarray(from, from + part * size), r * part * size);
        }
      }
      return {
        w: this.upload(weightWords(slice), `${t.weight}[${j}]`),
        dtype,
        layout,
        inF,
        outF: part,
        bias: bias ? this.upload(bias.slice(j * part, (j + 1) * part), `${t.bias}[${j}]`) : null,
      } satisfies DeviceLinear;
    }) as [DeviceLinear, DeviceLinear, DeviceLinear];
  }

  async block(family: LmFamily, layer: number): Promise<DeviceBlock> {
    const t = family.block(layer);
    const [q, k, v] = t.qkv.kind === "fused"
      ? await this.splitLinear(t.qkv.qkv)
      : [await this.linear(t.qkv.q), await this.linear(t.qkv.k), await this.linear(t.qkv.v)];
    return {
      attnNorm: await this.norm(t.attnNorm),
      mlpNorm: t.mlpNorm ? await this.norm(t.mlpNorm) : null,
      q,
      k,
      v,
      qNorm: t.qNorm ? await this.norm(t.qNorm) : null,
      kNorm: t.kNorm ? await this.norm(t.kNorm) : null,
      o: await this.linear(t.o),
      up: await this.linear(t.up),
      gate: t.gate ? await this.linear(t.gate) : null,
      down: await this.linear(t.down),
    };
  }

  /** Gives every buffer back to the pool (the next block of the same shapes reuses them). */
  release(): void {
    this.gpu.release(...this.buffers);
    this.buffers.length = 0;
    this.bytes = 0;
  }
}

/** Stored bytes of every tensor of block `layer` (the device cost of one block, before f32 widening of vectors). */
export function blockBytes(family: LmFamily, source: WeightSource, layer: number): number {
  const t = family.block(layer);
  const names: string[] = [];
  const linear = (l: LinearTensors | null) => l && names.push(l.weight, ...(l.bias ? [l.bias] : []));
  const norm = (n: NormTensors | null) => n && names.push(n.weight, ...(n.bias ? [n.bias] : []));
  norm(t.attnNorm);
  norm(t.mlpNorm);
  norm(t.qNorm);
  norm(t.kNorm);
  if (t.qkv.kind === "fused") linear(t.qkv.qkv);
  else [t.qkv.q, t.qkv.k, t.qkv.v].forEach(linear);
  [t.o, t.up, t.gate, t.down].forEach(linear);
  return storedBytes(source, names);
}

/** Stored bytes of the final norm and the output head (with its bias). */
export function headBytes(family: LmFamily, source: WeightSource): number {
  const names = [family.finalNorm.weight, family.head.weight];
  if (family.finalNorm.bias) names.push(family.finalNorm.bias);
  if (family.head.bias) names.push(family.head.bias);
  return storedBytes(source, names);
}

/** Device bytes of tensors as the engine holds them: matrices in their dtype, vectors widened to f32. */
function storedBytes(source: WeightSource, names: string[]): number {
  let bytes = 0;
  for (const name of names) {
    const info = source.info(name);
    const count = info.shape.reduce((a, b) => a * b, 1);
    bytes += count * (info.shape.length === 1 ? 4 : info.dtype === "F32" ? 4 : 2);
  }
  return bytes;
}
