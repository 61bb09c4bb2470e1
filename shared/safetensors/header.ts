/**
 * The safetensors header: 8 bytes of little-endian u64 length n, then n bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }`, then the data.
 * Validation follows the reference implementation (huggingface/safetensors), one precise error per rule.
 */
import { InputError } from "../errors.ts";
import { type DType, DTYPE_BITS, isDType } from "./dtype.ts";
import { DuplicateKeyError, parseStrictJson } from "./strict_json.ts";

/** The reference implementation's cap on the header length (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte range inside the data section (after the header), half-open. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** Ordered by data offset (the order the data is laid out in the file). */
  tensors: TensorEntry[];
  /** 8 + n: where the data section starts in the file. */
  dataStart: number;
}

/**
 * Reads n from the first 8 bytes and checks it against the cap and the file size. `cap` is the reference's
 * 100 MB unless a caller sets a smaller one (the API: PROFS_MAX_HEADER_BYTES), `capName` says where it is set.
 */
export function headerLength(
  prefix: Uint8Array,
  fileSize: number,
  source: string,
  cap: { bytes: number; name?: string } = { bytes: MAX_HEADER_BYTES },
): number {
  if (prefix.byteLength < 8 || fileSize < 8) {
    throw invalid(source, "it must start with an 8-byte header length", `the file has ${fileSize} bytes`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(cap.bytes)) {
    const where = cap.name ? ` (${cap.name})` : "";
    throw invalid(source, `its header must be at most ${cap.bytes} bytes${where}`, `header length is ${n}`);
  }
  if (8n + n > BigInt(fileSize)) {
    throw invalid(
      source,
      "its header length must fit in the file",
      `header length is ${n} but the file has ${fileSize} bytes`,
    );
  }
  return Number(n);
}

/** Parses and validates the JSON header; `dataBytes` is the size of everything after it. */
export function parseHeader(json: Uint8Array, dataBytes: number, source: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw invalid(source, "its header must be valid UTF-8", "it is not");
  }
  if (!text.startsWith("{")) {
    throw invalid(
      source,
      "its header must be a JSON object",
      `it starts with ${JSON.stringify(text.slice(0, 16))}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = parseStrictJson(text);
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      throw invalid(source, "its header must not repeat a key", `'${error.key}' appears twice`);
    }
    throw invalid(source, "its header must be valid JSON", (error as Error).message);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid(source, "its header must be a JSON object", `it is ${describe(parsed)}`);
  }
  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === "__metadata__") metadata = parseMetadata(value, source);
    else tensors.push(parseEntry(name, value, source));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let offset = 0;
  for (const t of tensors) {
    if (t.begin !== offset) {
      const rule = t.begin > offset ? "leave no gap" : "not overlap";
      throw invalid(
        source,
        `its tensors' data_offsets must be contiguous from 0 and ${rule}`,
        `'${t.name}' begins at ${t.begin}, expected ${offset}`,
      );
    }
    if (t.end < t.begin) {
      throw invalid(
        source,
        "data_offsets must not end before they begin",
        `'${t.name}' has [${t.begin}, ${t.end}]`,
      );
    }
    const size = byteSize(t, source);
    if (t.end - t.begin !== size) {
      throw invalid(
        source,
        "each tensor's byte size must equal shape × dtype size",
        `'${t.name}' (${t.dtype} [${t.shape.join(", ")}]) needs ${size} bytes, data_offsets give ${
          t.end - t.begin
        }`,
      );
    }
    offset = t.end;
  }
  if (offset !== dataBytes) {
    const rule = offset < dataBytes
      ? "have no trailing bytes after the last tensor"
      : "contain all tensor data";
    throw invalid(source, `it must ${rule}`, `tensors need ${offset} data bytes, the file has ${dataBytes}`);
  }
  return { metadata, tensors, dataStart: 8 + json.byteLength };
}

/** End of the last tensor's data as the header declares it; 0 when unreadable (parseHeader then says why). */
export function lastTensorEnd(json: Uint8Array): number {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(json)) as Record<string, { data_offsets?: unknown }>;
    let end = 0;
    for (const [name, entry] of Object.entries(parsed)) {
      const offsets = entry?.data_offsets;
      if (name !== "__metadata__" && Array.isArray(offsets) && Number.isSafeInteger(offsets[1])) {
        end = Math.max(end, offsets[1] as number);
      }
    }
    return end;
  } catch {
    return 0;
  }
}

/** Element count × dtype bits / 8, with the reference's overflow and alignment checks. */
export function byteSize(t: Pick<TensorEntry, "name" | "dtype" | "shape">, source: string): number {
  let elements = 1n;
  for (const d of t.shape) elements *= BigInt(d);
  const bits = elements * BigInt(DTYPE_BITS[t.dtype]);
  if (bits > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(source, "tensor sizes must not overflow", `'${t.name}' has shape [${t.shape.join(", ")}]`);
  }
  if (bits % 8n !== 0n) {
    throw invalid(
      source,
      "each tensor must fill whole bytes",
      `'${t.name}' (${t.dtype} [${t.shape.join(", ")}]) has ${bits} bits`,
    );
  }
  return Number(bits / 8n);
}

/** JSON header bytes for `tensors` (laid out in the given order), padded with spaces to a multiple of 8. */
export function encodeHeader(
  tensors: { name: string; dtype: DType; shape: number[] }[],
  metadata: Record<string, string> = {},
  source = "header",
): { bytes: Uint8Array; entries: TensorEntry[] } {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__" || Object.hasOwn(header, t.name)) {
      throw new InputError(
        `Cannot write safetensors file '${source}' as tensor names must be unique: '${t.name}'`,
      );
    }
    const size = byteSize(t, source);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    entries.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], begin: offset, end: offset + size });
    offset += size;
  }
  let text = JSON.stringify(header);
  const raw = new TextEncoder().encode(text);
  text += " ".repeat((8 - (raw.byteLength % 8)) % 8);
  return { bytes: new TextEncoder().encode(text), entries };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(source, "'__metadata__' must be an object of strings", `it is ${describe(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw invalid(source, "'__metadata__' values must be strings", `'${key}' is ${describe(v)}`);
    }
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, value: unknown, source: string): TensorEntry {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(source, "each tensor entry must be an object", `'${name}' is ${describe(value)}`);
  }
  const { dtype, shape, data_offsets: offsets, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) {
    throw invalid(
      source,
      "tensor entries must have only dtype, shape and data_offsets",
      `'${name}' has '${extra[0]}'`,
    );
  }
  if (!isDType(dtype)) {
    throw invalid(
      source,
      `dtype must be one of ${Object.keys(DTYPE_BITS).join(", ")}`,
      `'${name}' has ${JSON.stringify(dtype)}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw invalid(
      source,
      "shape must be an array of non-negative integers",
      `'${name}' has ${JSON.stringify(shape)}`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw invalid(
      source,
      "data_offsets must be two non-negative integers",
      `'${name}' has ${JSON.stringify(offsets)}`,
    );
  }
  return { name, dtype, shape, begin: offsets[0], end: offsets[1] };
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

function invalid(source: string, rule: string, actual: string): InputError {
  return new InputError(`Cannot read safetensors file '${source}' as ${rule}: ${actual}`);
}
