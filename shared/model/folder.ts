/**
 * A Hugging Face model folder: `config.json`, `tokenizer.json`, and `model.safetensors` or shards listed in
 * `model.safetensors.index.json`. Tensors are read one at a time (streaming safetensors), so opening a folder
 * costs only its headers.
 */
import { HASH_CHUNK_BYTES } from "../hash_chunk.ts";
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../errors.ts";
import type { DType } from "../safetensors/dtype.ts";
import { openSafetensors, type SafetensorsReader } from "../safetensors/reader.ts";
import {
  type Architecture,
  architectureFor,
  configInteger,
  mlpOutputName as canonicalMlpOutputName,
} from "./architectures.ts";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

export interface TensorInfo {
  /** The name as stored in the checkpoint. */
  name: string;
  dtype: DType;
  shape: number[];
  /** Weight file holding it, relative to the folder. */
  file: string;
}

export interface ModelFolder {
  readonly dir: string;
  readonly config: Record<string, unknown>;
  readonly architecture: Architecture;
  readonly numLayers: number;
  readonly hiddenSize: number;
  /** Weight files relative to `dir`, in hash order (sorted by name: shard 1, 2, …). */
  readonly weightFiles: string[];
  /** Stored tensor names, file by file in `weightFiles` order, each file in data order. */
  tensorNames(): string[];
  /** Accepts stored or canonical names (GPT-2: with or without `transformer.`). */
  has(name: string): boolean;
  tensorInfo(name: string): TensorInfo;
  /** Any float tensor (F32/F16/BF16) as float32, row-major. */
  readTensor(name: string): Promise<Float32Array>;
  /** Rows [start, start + count) of a float tensor viewed as [shape[0], rest]. */
  readRows(name: string, start: number, count: number): Promise<Float32Array>;
  /** Stored name of block `layer`'s MLP output matrix (the one ProFS edits). */
  mlpOutputName(layer: number): string;
  /** Stored name of the [V, D] output head: `lm_head` when the checkpoint has one, else the tied embedding. */
  unembeddingName(): string;
  /** The open reader of one weight file (for streaming copies). */
  reader(file: string): SafetensorsReader;
  /** sha256 (hex) over the weight files' bytes, concatenated in `weightFiles` order; computed once. */
  sha256(): Promise<string>;
  close(): Promise<void>;
}

export async function openModelFolder(dir: string): Promise<ModelFolder> {
  const config = await readJsonObject(join(dir, "config.json"), dir, "config.json");
  const architecture = architectureFor(config, dir);
  const numLayers = configInteger(config, architecture.layerCountKeys, "the number of layers", dir);
  const hiddenSize = configInteger(config, architecture.hiddenSizeKeys, "the hidden size", dir);
  const { files, weightMap } = await weightLayout(dir);
  const readers = new Map<string, SafetensorsReader>();
  try {
    for (const file of files) readers.set(file, await openSafetensors(join(dir, file)));
    const infos = new Map<string, TensorInfo>();
    for (const file of files) {
      for (const t of readers.get(file)!.header.tensors) {
        if (infos.has(t.name)) {
          throw new InputError(
            `Cannot open model '${dir}' as each tensor must be stored once: '${t.name}' is in ${
              infos.get(t.name)!.file
            } and ${file}`,
          );
        }
        infos.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, file });
      }
    }
    if (weightMap) checkIndex(dir, weightMap, infos);
    const folder = createFolder(dir, config, architecture, numLayers, hiddenSize, files, readers, infos);
    checkMlpOutputs(folder);
    return folder;
  } catch (error) {
    for (const r of readers.values()) await r.close();
    throw error;
  }
}

function createFolder(
  dir: string,
  config: Record<string, unknown>,
  architecture: Architecture,
  numLayers: number,
  hiddenSize: number,
  weightFiles: string[],
  readers: Map<string, SafetensorsReader>,
  infos: Map<string, TensorInfo>,
): ModelFolder {
  const aliases = new Map<string, string>(); // any accepted name → stored name
  for (const stored of infos.keys()) {
    aliases.set(stored, stored);
    for (const prefix of architecture.optionalPrefixes) {
      if (stored.startsWith(prefix)) aliases.set(stored.slice(prefix.length), stored);
      else aliases.set(prefix + stored, stored);
    }
  }
  for (const stored of infos.keys()) aliases.set(stored, stored); // a stored name always means itself
  const resolve = (name: string): TensorInfo => {
    const stored = aliases.get(name);
    if (stored === undefined) {
      throw new InputError(`Cannot read tensor '${name}' as it must exist in model '${dir}'`);
    }
    return infos.get(stored)!;
  };
  let hash: Promise<string> | undefined;
  return {
    dir,
    config,
    architecture,
    numLayers,
    hiddenSize,
    weightFiles,
    tensorNames: () => [...infos.keys()],
    has: (name) => aliases.has(name),
    tensorInfo: resolve,
    readTensor(name) {
      const info = resolve(name);
      return readers.get(info.file)!.readFloat32(info.name);
    },
    readRows(name, start, count) {
      const info = resolve(name);
      return readers.get(info.file)!.readRowsFloat32(info.name, start, count);
    },
    mlpOutputName: (layer) => resolve(canonicalMlpOutputName(architecture, layer)).name,
    unembeddingName: () =>
      aliases.has(architecture.lmHead)
        ? resolve(architecture.lmHead).name
        : resolve(architecture.embedding).name,
    reader(file) {
      const r = readers.get(file);
      if (!r) throw new Error(`'${file}' is not a weight file of '${dir}'`);
      return r;
    },
    sha256: () => hash ??= hashFiles(weightFiles.map((f) => join(dir, f))),
    async close() {
      for (const r of readers.values()) await r.close();
    },
  };
}

async function weightLayout(dir: string): Promise<{ files: string[]; weightMap?: Record<string, string> }> {
  if (await exists(join(dir, INDEX_FILE))) {
    const index = await readJsonObject(join(dir, INDEX_FILE), dir, INDEX_FILE);
    const map = index.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new InputError(`Cannot open model '${dir}' as ${INDEX_FILE} must have a 'weight_map' object`);
    }
    const weightMap = map as Record<string, unknown>;
    for (const [name, file] of Object.entries(weightMap)) {
      if (
        typeof file !== "string" || file.includes("/") || file.includes("\\") ||
        !file.endsWith(".safetensors")
      ) {
        throw new InputError(
          `Cannot open model '${dir}' as ${INDEX_FILE} must map '${name}' to a .safetensors file in the folder: current value is ${
            JSON.stringify(file)
          }`,
        );
      }
    }
    const files = [...new Set(Object.values(weightMap) as string[])].sort();
    if (files.length === 0) {
      throw new InputError(`Cannot open model '${dir}' as ${INDEX_FILE} must list tensors`);
    }
    return { files, weightMap: weightMap as Record<string, string> };
  }
  if (await exists(join(dir, SINGLE_FILE))) return { files: [SINGLE_FILE] };
  const hint = (await exists(join(dir, "pytorch_model.bin")))
    ? " (it has pytorch_model.bin: convert it to safetensors first)"
    : "";
  throw new InputError(
    `Cannot open model '${dir}' as it must contain ${SINGLE_FILE} or ${INDEX_FILE}${hint}`,
  );
}

function checkIndex(dir: string, weightMap: Record<string, string>, infos: Map<string, TensorInfo>): void {
  for (const [name, file] of Object.entries(weightMap)) {
    const info = infos.get(name);
    if (!info || info.file !== file) {
      throw new InputError(
        `Cannot open model '${dir}' as ${INDEX_FILE} must match the shards: '${name}' is not in ${file}`,
      );
    }
  }
  for (const info of infos.values()) {
    if (!Object.hasOwn(weightMap, info.name)) {
      throw new InputError(
        `Cannot open model '${dir}' as ${INDEX_FILE} must list every tensor: '${info.name}' (in ${info.file}) is missing`,
      );
    }
  }
}

/** Every block's MLP output matrix exists, is float and has D on the axis the architecture says. */
function checkMlpOutputs(folder: ModelFolder): void {
  const { architecture: a, hiddenSize: d } = folder;
  for (let l = 0; l < folder.numLayers; l++) {
    const name = canonicalMlpOutputName(a, l);
    if (!folder.has(name)) {
      throw new InputError(
        `Cannot open model '${folder.dir}' as it must have '${name}' (${folder.numLayers} layers in config.json)`,
      );
    }
    const info = folder.tensorInfo(name);
    const axis = a.orientation === "d-cols" ? 1 : 0;
    if (info.shape.length !== 2 || info.shape[axis] !== d || !["F32", "F16", "BF16"].includes(info.dtype)) {
      throw new InputError(
        `Cannot open model '${folder.dir}' as '${info.name}' must be a F32/F16/BF16 matrix with ${d} ${
          axis ? "columns" : "rows"
        }: it is ${info.dtype} [${info.shape.join(", ")}]`,
      );
    }
  }
}

/** sha256 of the files' bytes in order, streamed (HASH_CHUNK_BYTES at a time). */
export async function hashFiles(paths: string[]): Promise<string> {
  const hash = createHash("sha256");
  const chunk = new Uint8Array(HASH_CHUNK_BYTES);
  for (const path of paths) {
    const handle = await open(path, "r");
    try {
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, null);
        if (bytesRead === 0) break;
        hash.update(chunk.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
  }
  return hash.digest("hex");
}

async function readJsonObject(path: string, dir: string, label: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new InputError(`Cannot open model '${dir}' as it must contain ${label}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `Cannot open model '${dir}' as ${label} must be valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(`Cannot open model '${dir}' as ${label} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}
