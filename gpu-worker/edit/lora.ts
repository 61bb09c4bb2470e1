/**
 * The edit as a PEFT LoRA adapter. ΔW = −V (Vᵀ W) (d-rows, a Linear weight [D, in]) or −(W V) Vᵀ (d-cols, GPT-2's
 * Conv1D weight [in, D]) has rank k, so it is exactly a LoRA update with r = k and scale lora_alpha / r = 1:
 *
 *   lora_B = −V            [D, k]     (PEFT's lora_B.weight is [out_features, r])
 *   lora_A = Vᵀ W          [k, in]    d-rows: the patch's `removed` as stored
 *          = (W V)ᵀ        [k, in]    d-cols: the patch's `removed` [in, k] transposed; PEFT's `fan_in_fan_out`
 *                                     then transposes B A back to the Conv1D layout
 *
 * so base + adapter merged is W − removed·Vᵀ, the edited model, to float32 rounding (the edit rounds the product
 * once into the weight's dtype; a merge computes B A in float32 and adds it). Everything comes from the patch:
 * `exportLora` needs the base model only to check that the patch belongs to it.
 */
import { join } from "node:path";
import { InputError } from "../../shared/errors.ts";
import type { Patch } from "../../shared/formats/patch.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { type Architecture, ARCHITECTURES } from "../../shared/model/architectures.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { type TensorSpec, writeSafetensorsFile } from "../../shared/safetensors/writer.ts";
import { fromFloat32 } from "../../shared/safetensors/dtype.ts";
import { checkPatchShapes } from "./apply_patch.ts";
import { adapterCard, type Lineage, lineageOf } from "./model_card.ts";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/**
 * Where the edited module sits in the transformers `…ForCausalLM` class PEFT wraps, and how PEFT names it: the
 * module path of block l's MLP output projection (`transformer.h.{l}.mlp.c_proj` for GPT2LMHeadModel, whose
 * checkpoints may omit `transformer.`), the `target_modules` entry (a suffix naming only that module: GPT-2's
 * `attn.c_proj` must not match), and the `layers_pattern` PEFT finds the block index after.
 */
export interface LoraTarget {
  modulePath: string;
  targetModule: string;
  layersPattern: string;
  fanInFanOut: boolean;
}

export function loraTarget(architecture: Architecture): LoraTarget {
  const canonical = architecture.mlpOutput.replace(/\.weight$/, "");
  const modulePath = architecture.family === "gpt2" ? `transformer.${canonical}` : canonical;
  const parts = modulePath.split(".");
  const at = parts.indexOf("{l}");
  return {
    modulePath,
    targetModule: parts.slice(at + 1).join("."),
    layersPattern: parts[at - 1],
    fanInFanOut: architecture.orientation === "d-cols",
  };
}

type LoraTensor = TensorSpec & { data: Uint8Array };

export interface LoraAdapter {
  config: Record<string, unknown>;
  tensors: LoraTensor[];
}

/** The adapter of a patch: config and tensors named as PEFT's `save_pretrained` writes them. */
export function loraAdapter(patch: Patch, baseModel: string | null): LoraAdapter {
  const meta = patch.metadata;
  const architecture = ARCHITECTURES.find((a) => a.family === meta.family);
  if (!architecture) throw new InputError(`Cannot export a LoRA adapter of a '${meta.family}' patch`);
  const target = loraTarget(architecture);
  const k = meta.rank;
  const tensors: LoraTensor[] = [];
  for (const { layer, basis, removed } of patch.layers) {
    const prefix = `base_model.model.${target.modulePath.replace("{l}", String(layer))}`;
    const a = meta.orientation === "d-cols"
      ? transpose(removed.data, removed.rows, removed.cols)
      : removed.data;
    const inFeatures = meta.orientation === "d-cols" ? removed.rows : removed.cols;
    const b = basis.data.map((x) => -x); // −V [D, k]
    tensors.push(
      { name: `${prefix}.lora_A.weight`, dtype: "F32", shape: [k, inFeatures], data: fromFloat32(a, "F32") },
      { name: `${prefix}.lora_B.weight`, dtype: "F32", shape: [basis.rows, k], data: fromFloat32(b, "F32") },
    );
  }
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    inference_mode: true,
    r: k,
    lora_alpha: k, // scale lora_alpha / r = 1: B A is ΔW itself
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: target.fanInFanOut,
    target_modules: [target.targetModule],
    layers_to_transform: patch.layers.map((l) => l.layer),
    layers_pattern: target.layersPattern,
    modules_to_save: null,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
  return { config, tensors };
}

/** Writes `dir`/{adapter_config.json, adapter_model.safetensors, README.md}; `dir` must not exist yet. */
export async function writeLoraAdapter(
  dir: string,
  patch: Patch,
  lineage: Lineage,
): Promise<string[]> {
  const adapter = loraAdapter(patch, lineage.baseModel);
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(adapter.config, null, 2) + "\n");
  await writeSafetensorsFile(join(dir, ADAPTER_WEIGHTS_FILE), adapter.tensors, { format: "pt" });
  await Deno.writeTextFile(join(dir, "README.md"), adapterCard(patch, lineage));
  return [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, "README.md"];
}

export interface ExportLoraOptions {
  modelDir: string;
  patchFile: string;
  outDir: string;
  /** The base model's hub id when neither its card nor its config names it. */
  baseModel?: string;
}

/**
 * `profs export-lora`: the adapter of a patch, after checking that the patch was made from this base model
 * (family, weights sha256, tensor shapes). Written to a sibling temporary folder renamed at the end.
 */
export async function exportLora(options: ExportLoraOptions): Promise<{ outDir: string; files: string[] }> {
  const patch = await readPatch(options.patchFile);
  const meta = patch.metadata;
  try {
    await Deno.lstat(options.outDir);
    throw new InputError(`Cannot write to '--out' as it must not exist yet: '${options.outDir}' exists`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const refuse = (rule: string) => new InputError(`Cannot export patch '${options.patchFile}' as ${rule}`);
  const model = await openModelFolder(options.modelDir);
  try {
    if (model.architecture.family !== meta.family) {
      throw refuse(
        `the model must be a ${meta.family} model: '${options.modelDir}' is ${model.architecture.family}`,
      );
    }
    for (const layer of patch.layers) {
      if (layer.layer >= model.numLayers) {
        throw refuse(`its layers must exist in the model: layer ${layer.layer} of ${model.numLayers}`);
      }
      const name = model.mlpOutputName(layer.layer);
      const [rows, cols] = model.tensorInfo(name).shape;
      checkPatchShapes(layer.basis, layer.removed, rows, cols, meta.orientation, meta.rank, name, refuse);
    }
    const sha = await model.sha256();
    if (sha !== meta.baseModelSha256) {
      throw refuse(
        `the model's weights must have sha256 ${meta.baseModelSha256} (the base model it was made from): '${options.modelDir}' has ${sha}`,
      );
    }
    const lineage = await lineageOf(model.dir, model.config, options.baseModel);
    const tmpDir = `${options.outDir.replace(/\/+$/, "")}.partial-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const files = await writeLoraAdapter(tmpDir, patch, lineage);
      await Deno.rename(tmpDir, options.outDir);
      return { outDir: options.outDir, files };
    } catch (error) {
      await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
      throw error;
    }
  } finally {
    await model.close();
  }
}

/** [rows, cols] row-major → [cols, rows] row-major. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/** The service's artifact: the adapter folder as one `lora.tar` (`tar xf lora.tar` → `lora/…`). */
export const LORA_TAR_FILE = "lora.tar";

/** Writes the files of `dir` (flat, small) as a POSIX ustar archive under `prefix/`. */
export async function writeTarOfFolder(path: string, dir: string, prefix: string): Promise<void> {
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  const parts: Uint8Array[] = [];
  for (const name of names) {
    const data = await Deno.readFile(join(dir, name));
    parts.push(
      ustarHeader(`${prefix}/${name}`, data.length),
      data,
      new Uint8Array((512 - data.length % 512) % 512),
    );
  }
  parts.push(new Uint8Array(1024)); // two zero blocks end the archive
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  await Deno.writeFile(path, out);
}

/** One 512-byte ustar header for a regular file (mode 0644, mtime 0: the archive depends on its files only). */
function ustarHeader(name: string, size: number): Uint8Array {
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (offset: number, length: number, value: string) =>
    header.set(enc.encode(value).subarray(0, length), offset);
  const octal = (offset: number, length: number, value: number) =>
    put(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  if (enc.encode(name).length > 100) throw new Error(`tar entry name too long: ${name}`);
  put(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  put(148, 8, "        "); // checksum field counts as spaces while summing
  put(156, 1, "0");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  const sum = header.reduce((a, b) => a + b, 0);
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}
