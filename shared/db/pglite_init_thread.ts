/// <reference lib="deno.worker" />
/**
 * Creates a new embedded database directory (PGlite's initdb) in a thread of its own, started by
 * connection.ts: initdb runs in a second WebAssembly instance whose memory (~350 MB resident on a fresh
 * directory) the main thread would keep until a garbage collection that nothing triggers, while ending this
 * thread frees all of it at once. Message in: `{ dir, startParams }`, once; out: `"ok"` or an error's message.
 */
import { PGlite } from "@electric-sql/pglite";

self.onmessage = async (event: MessageEvent<{ dir: string; startParams: string[] }>) => {
  try {
    const client = await PGlite.create(event.data.dir, { startParams: event.data.startParams });
    await client.close();
    self.postMessage({ ok: true });
  } catch (error) {
    self.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
};
