/**
 * followFile: a file read while another writer appends to it, ending at the size it will have; the writer's
 * failure (the signal) errors the stream. syncWhileWritten: the flushing follower of a file written in place.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { followFile, syncWhileWritten } from "../../gpu-worker/worker/jobs/follow_file.ts";

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "profs-follow-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("followFile reads a file as it is written, waiting for it to appear and to grow, and ends at its size", () =>
  withDir(async (dir) => {
    const path = join(dir, "w.bin");
    const data = bytes(300_000);
    let read = 0;
    const counted = followFile(path, data.length, new AbortController().signal, {
      chunkBytes: 40_000,
      pollMs: 2,
    })
      .pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            read += chunk.byteLength;
            controller.enqueue(chunk);
          },
        }),
      );
    const reading = new Response(counted).arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the file does not exist yet
    const file = await Deno.open(path, { write: true, createNew: true });
    for (let at = 0; at < data.length; at += 100_000) {
      await file.write(data.subarray(at, at + 100_000));
      // The next piece is written only once the reader has what is there: a reader that waited for the end
      // would hold this loop forever.
      while (read < at + 100_000) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    file.close();
    assert.deepEqual(new Uint8Array(await reading), data);
  }));

Deno.test("followFile stays below the writer's watermark when the file is filled out of order (an edit's copy runs ahead)", () =>
  withDir(async (dir) => {
    const path = join(dir, "w.bin");
    const data = bytes(300_000, 7);
    let mark = 0;
    const file = await Deno.open(path, { write: true, createNew: true });
    // The tail first: the file already has its full size, with a hole of zeros where the middle will go.
    await file.seek(200_000, Deno.SeekMode.Start);
    await file.write(data.subarray(200_000));
    const reading = new Response(
      followFile(path, data.length, new AbortController().signal, { final: () => mark, pollMs: 1 }),
    ).arrayBuffer();
    await file.seek(0, Deno.SeekMode.Start);
    await file.write(data.subarray(0, 100_000));
    mark = 100_000;
    await new Promise((resolve) => setTimeout(resolve, 20)); // the reader reaches the hole's edge and waits
    await file.write(data.subarray(100_000, 200_000));
    mark = 300_000;
    file.close();
    assert.deepEqual(new Uint8Array(await reading), data);
  }));

Deno.test("followFile asks a path function again until the file opens (an output folder renamed into place)", () =>
  withDir(async (dir) => {
    const data = bytes(1000);
    await Deno.writeFile(join(dir, "final.bin"), data);
    let asked = 0;
    const path = () => join(dir, ++asked < 3 ? "partial.bin" : "final.bin");
    const stream = followFile(path, data.length, new AbortController().signal, { pollMs: 1 });
    assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), data);
    assert.equal(asked, 3);
  }));

Deno.test("followFile errors with the signal's reason when the writer fails, before or while waiting", () =>
  withDir(async (dir) => {
    const path = join(dir, "w.bin");
    await Deno.writeFile(path, bytes(10));
    const writer = new AbortController();
    const stream = followFile(path, 1000, writer.signal, { pollMs: 1 });
    const reading = new Response(stream).arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 10));
    writer.abort(new Error("the edit failed"));
    await assert.rejects(reading, /the edit failed/);
    const aborted = AbortSignal.abort(new Error("already over"));
    await assert.rejects(new Response(followFile(path, 10, aborted)).arrayBuffer(), /already over/);
  }));

Deno.test("syncWhileWritten follows a growing file to its size, and ends when the edit ends first", () =>
  withDir(async (dir) => {
    const path = join(dir, "w.bin");
    const data = bytes(400_000);
    const never = new AbortController();
    const syncing = syncWhileWritten(path, data.length, never.signal, { everyBytes: 100_000, pollMs: 1 });
    const file = await Deno.open(path, { write: true, createNew: true });
    for (let at = 0; at < data.length; at += 50_000) {
      await file.write(data.subarray(at, at + 50_000));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    file.close();
    await syncing; // returns once the file is whole, with nothing aborted
    assert.deepEqual(await Deno.readFile(path), data, "the file is left as written");

    const ended = new AbortController();
    const waiting = syncWhileWritten(join(dir, "never-written.bin"), 10, ended.signal, { pollMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    ended.abort();
    await waiting;
  }));

Deno.test("syncWhileWritten with the writer's watermark ends when the watermark, not the file, reaches the size", () =>
  withDir(async (dir) => {
    const path = join(dir, "w.bin");
    const data = bytes(300_000);
    await Deno.writeFile(path, data); // every byte already there, as an edit's copy leaves it before the edits
    let mark = 100_000; // an edited tensor still to come at 100,000
    const never = new AbortController();
    let ended = false;
    const syncing = syncWhileWritten(path, data.length, never.signal, {
      everyBytes: 50_000,
      pollMs: 1,
      final: () => mark,
    }).then(() => ended = true);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(ended, false, "a file at its size is not complete while the watermark is below it");
    mark = data.length;
    await syncing;
    assert.equal(ended, true);
    assert.deepEqual(await Deno.readFile(path), data, "the file is left as written");
  }));
