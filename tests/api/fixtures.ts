/** Upload fixtures: safetensors bytes built in memory, a tiny GPT-2 folder's files, preference JSONL. */
import { join } from "node:path";
import { layoutFor, type TensorSpec } from "../../shared/safetensors/writer.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

/** A whole safetensors file: u64 header length, header JSON, then each tensor's bytes in layout order. */
export function safetensorsBytes(
  tensors: (TensorSpec & { data: Uint8Array })[],
  metadata: Record<string, string> = {},
): Uint8Array<ArrayBuffer> {
  const layout = layoutFor(tensors, metadata);
  const dataSize = layout.tensors.reduce((n, t) => Math.max(n, t.end), 0);
  const out = new Uint8Array(8 + layout.json.byteLength + dataSize);
  new DataView(out.buffer).setBigUint64(0, BigInt(layout.json.byteLength), true);
  out.set(layout.json, 8);
  const byName = new Map(tensors.map((t) => [t.name, t.data]));
  for (const t of layout.tensors) out.set(byName.get(t.name)!, 8 + layout.json.byteLength + t.begin);
  return out;
}

export function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** The files of a tiny GPT-2 folder (2 blocks, D = 24), by name. */
export async function tinyModelFiles(
  options: { layers?: number } = {},
): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const dir = await Deno.makeTempDir({ prefix: "profs-api-model-" });
  try {
    await writeTinyGpt2(dir, { layers: options.layers ?? 2, hidden: 24 });
    const files = new Map<string, Uint8Array<ArrayBuffer>>();
    for (const entry of Deno.readDirSync(dir)) {
      files.set(entry.name, await Deno.readFile(join(dir, entry.name)));
    }
    return files;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export function pairsJsonl(n: number): string {
  return Array.from(
    { length: n },
    (_, i) => JSON.stringify({ preferred: `kind words ${i}`, rejected: `rude ${i}` }),
  )
    .join("\n") + "\n";
}

/** A stream that sends `bytes` in `chunk`-sized pieces (no Content-Length: a chunked upload). */
export function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i += chunk) parts.push(bytes.slice(i, i + chunk));
  return ReadableStream.from(parts);
}
