/**
 * Streaming safetensors reader: validates the header up front (see header.ts), then reads one tensor (or a
 * row range of one) at a time with positional reads, so memory is bounded by the largest tensor asked for and
 * concurrent reads on one file do not race.
 */
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { type FloatDType, isFloatDType, toFloat32 } from "./dtype.ts";
import { headerLength, parseHeader, type SafetensorsHeader, type TensorEntry } from "./header.ts";

export interface SafetensorsReader {
  readonly path: string;
  readonly header: SafetensorsHeader;
  /** The header's JSON bytes exactly as stored (copied verbatim when a file is rewritten with equal layout). */
  readonly headerJson: Uint8Array;
  readonly fileSize: number;
  entry(name: string): TensorEntry | undefined;
  /**
   * Raw little-endian bytes of a tensor, or of the byte range [begin, end) inside it; read into the start of
   * `buffer` when given (and returned as a view of it), so a copy loop can reuse one buffer.
   */
  readBytes(name: string, range?: { begin: number; end: number }, buffer?: Uint8Array): Promise<Uint8Array>;
  /** A float tensor (F32/F16/BF16) as float32. */
  readFloat32(name: string): Promise<Float32Array>;
  /** Rows [start, start + count) of a float tensor viewed as [shape[0], rest], as float32. */
  readRowsFloat32(name: string, start: number, count: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export async function openSafetensors(path: string): Promise<SafetensorsReader> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new InputError(
      `Cannot read safetensors file '${path}' as it must exist: ${(error as Error).message}`,
    );
  }
  try {
    const fileSize = (await handle.stat()).size;
    const prefix = await readAt(handle, 0, Math.min(8, fileSize));
    const n = headerLength(prefix, fileSize, path);
    const headerJson = await readAt(handle, 8, n);
    const header = parseHeader(headerJson, fileSize - 8 - n, path);
    return createReader(path, handle, header, headerJson, fileSize);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function createReader(
  path: string,
  handle: FileHandle,
  header: SafetensorsHeader,
  headerJson: Uint8Array,
  fileSize: number,
): SafetensorsReader {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const need = (name: string): TensorEntry => {
    const t = byName.get(name);
    if (!t) throw new InputError(`Cannot read tensor '${name}' as it must exist in '${path}'`);
    return t;
  };
  const needFloat = (t: TensorEntry): FloatDType => {
    if (!isFloatDType(t.dtype)) {
      throw new InputError(
        `Cannot read tensor '${t.name}' as float32 as its dtype must be F32, F16 or BF16: current value is ${t.dtype}`,
      );
    }
    return t.dtype;
  };
  const readBytes = (name: string, range?: { begin: number; end: number }, buffer?: Uint8Array) => {
    const t = need(name);
    const begin = range?.begin ?? 0;
    const end = range?.end ?? t.end - t.begin;
    if (begin < 0 || end < begin || end > t.end - t.begin) {
      throw new RangeError(
        `byte range [${begin}, ${end}) is outside tensor '${name}' (${t.end - t.begin} bytes)`,
      );
    }
    return readAt(handle, header.dataStart + t.begin + begin, end - begin, buffer);
  };
  return {
    path,
    header,
    headerJson,
    fileSize,
    entry: (name) => byName.get(name),
    readBytes,
    async readFloat32(name) {
      const t = need(name);
      const dtype = needFloat(t);
      if (dtype !== "F32") return toFloat32(await readBytes(name), dtype);
      // F32 is read straight into the result: one fresh allocation instead of two (and no copy).
      const values = new Float32Array((t.end - t.begin) / 4);
      await readBytes(name, undefined, new Uint8Array(values.buffer));
      return values;
    },
    async readRowsFloat32(name, start, count) {
      const t = need(name);
      const dtype = needFloat(t);
      const rows = t.shape[0] ?? 1;
      if (start < 0 || count < 0 || start + count > rows) {
        throw new RangeError(`rows [${start}, ${start + count}) are outside tensor '${name}' (${rows} rows)`);
      }
      const rowBytes = rows === 0 ? 0 : (t.end - t.begin) / rows;
      const bytes = await readBytes(name, { begin: start * rowBytes, end: (start + count) * rowBytes });
      return toFloat32(bytes, dtype);
    },
    close: () => handle.close(),
  };
}

async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
  buffer?: Uint8Array,
): Promise<Uint8Array> {
  if (buffer && buffer.byteLength < length) {
    throw new RangeError(`buffer of ${buffer.byteLength} bytes cannot hold ${length}`);
  }
  const out = buffer ? buffer.subarray(0, length) : new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, Math.min(length - done, 1 << 30), position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return out;
}
