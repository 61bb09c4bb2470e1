/**
 * Parsing a safetensors header without blocking the event loop: a header of up to the cap (16 MiB in the API)
 * can hold hundreds of thousands of entries and take seconds to parse and check, during which one thread
 * would answer nobody. Small headers (every real model's: a few hundred KB at most) are parsed in place; bigger
 * ones in a short-lived Web Worker (header_worker.ts), the bytes moved there by transfer.
 */
import { InputError } from "../errors.ts";
import { lastTensorEnd, parseHeader, type SafetensorsHeader } from "./header.ts";

/** Headers up to this many bytes are parsed on the calling thread (a few ms). */
export const INLINE_HEADER_BYTES = 256 * 1024;

export type HeaderRequest = { json: Uint8Array; dataBytes: number | null; source: string };
export type HeaderResponse =
  | { ok: true; header: SafetensorsHeader; dataBytes: number }
  | { ok: false; message: string; input: boolean };

/**
 * Parses and validates `json`; `dataBytes` is the size of everything after the header, or null when unknown (a
 * chunked upload), in which case it is the end of the last tensor the header names. `json` is detached when the
 * parse runs off-thread.
 */
export async function parseHeaderOffThread(
  json: Uint8Array,
  dataBytes: number | null,
  source: string,
): Promise<{ header: SafetensorsHeader; dataBytes: number }> {
  if (json.byteLength <= INLINE_HEADER_BYTES) return parseHeaderHere({ json, dataBytes, source });
  const thread = new Worker(new URL("./header_worker.ts", import.meta.url), { type: "module" });
  try {
    const response = await new Promise<HeaderResponse>((resolve, reject) => {
      thread.onmessage = (event: MessageEvent<HeaderResponse>) => resolve(event.data);
      thread.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`safetensors header thread crashed: ${event.message}`));
      };
      thread.onmessageerror = () => reject(new Error("safetensors header thread sent an unreadable message"));
      const own = json.byteOffset === 0 && json.byteLength === json.buffer.byteLength ? json : json.slice();
      thread.postMessage({ json: own, dataBytes, source } satisfies HeaderRequest, [
        own.buffer as ArrayBuffer,
      ]);
    });
    if (response.ok) return { header: response.header, dataBytes: response.dataBytes };
    throw response.input ? new InputError(response.message) : new Error(response.message);
  } finally {
    thread.terminate();
  }
}

/** The same work on this thread (the worker runs this too). */
export function parseHeaderHere(
  { json, dataBytes, source }: HeaderRequest,
): { header: SafetensorsHeader; dataBytes: number } {
  const bytes = dataBytes ?? lastTensorEnd(json);
  return { header: parseHeader(json, bytes, source), dataBytes: bytes };
}
