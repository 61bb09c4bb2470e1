import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { BlobTooLargeError } from "../../shared/blobs/store.ts";
import { InputError } from "../../shared/errors.ts";

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.slice(i, i + size));
  return ReadableStream.from(parts);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function withStore(
  fn: (store: Awaited<ReturnType<typeof createLocalBlobStore>>, root: string) => Promise<void>,
) {
  const root = await Deno.makeTempDir({ prefix: "profs-blobs-" });
  try {
    await fn(await createLocalBlobStore(root), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("put streams a blob in chunks and reports its size and sha256", () =>
  withStore(async (store) => {
    const data = bytes(1_000_003);
    const info = await store.put("models/m1/model.safetensors", chunked(data, 65_537));
    assert.equal(info.size, data.length);
    assert.equal(info.sha256, createHash("sha256").update(data).digest("hex"));
    const read = await store.get("models/m1/model.safetensors");
    assert.ok(read);
    assert.equal(read.size, data.length);
    assert.deepEqual(await readAll(read.body), data);
  }));

Deno.test("put with its producer's sha256 reports that hash, and stores nothing when the producer fails", () =>
  withStore(async (store, root) => {
    const data = bytes(200_000);
    const info = await store.put("e/model.safetensors", chunked(data, 65_537), {
      sha256: Promise.resolve("cd".repeat(32)),
    });
    assert.deepEqual(info, { key: "e/model.safetensors", size: data.length, sha256: "cd".repeat(32) });
    assert.deepEqual(await readAll((await store.get("e/model.safetensors"))!.body), data);
    const producer = Promise.withResolvers<string>();
    const putting = store.put("e/failed", chunked(data, 65_537), { sha256: producer.promise });
    producer.reject(new Error("the edit failed"));
    await assert.rejects(putting, /the edit failed/);
    assert.equal(await store.exists("e/failed"), false);
    assert.deepEqual([...Deno.readDirSync(`${root}/.tmp`)], [], "no temporary file left behind");
  }));

Deno.test("put exactly at maxBytes succeeds and one byte over stores nothing", () =>
  withStore(async (store, root) => {
    const limit = 4096;
    await store.put("a/at-limit", chunked(bytes(limit), 1000), { maxBytes: limit });
    assert.equal((await store.stat("a/at-limit"))?.size, limit);
    await assert.rejects(
      store.put("a/over", chunked(bytes(limit + 1), 1000), { maxBytes: limit }),
      BlobTooLargeError,
    );
    assert.equal(await store.exists("a/over"), false);
    assert.deepEqual([...Deno.readDirSync(`${root}/.tmp`)], [], "no temporary file left behind");
  }));

Deno.test("a stream that fails midway stores nothing and keeps the previous blob", () =>
  withStore(async (store, root) => {
    await store.put("k/file", bytes(10));
    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(bytes(100));
        else controller.error(new Error("client went away"));
      },
    });
    await assert.rejects(store.put("k/file", failing), /client went away/);
    assert.deepEqual(await readAll((await store.get("k/file"))!.body), bytes(10));
    assert.deepEqual([...Deno.readDirSync(`${root}/.tmp`)], []);
  }));

Deno.test("get with a range returns exactly the inclusive byte range", () =>
  withStore(async (store) => {
    const data = bytes(700_000);
    await store.put("r/blob", data);
    for (const [start, end] of [[0, 0], [5, 9], [262_143, 262_145], [699_999, 699_999], [0, 699_999]]) {
      const read = await store.get("r/blob", { start, end });
      assert.ok(read);
      assert.deepEqual(read.range, { start, end });
      assert.deepEqual(await readAll(read.body), data.subarray(start, end + 1), `range ${start}-${end}`);
    }
    await assert.rejects(store.get("r/blob", { start: 10, end: 700_000 }), RangeError);
    await assert.rejects(store.get("r/blob", { start: 10, end: 9 }), RangeError);
  }));

Deno.test("missing blobs read as null and delete reports whether something was there", () =>
  withStore(async (store) => {
    assert.equal(await store.get("nothing/here"), null);
    assert.equal(await store.stat("nothing/here"), null);
    assert.equal(await store.delete("nothing/here"), false);
    await store.put("x/y", bytes(3));
    assert.equal(await store.delete("x/y"), true);
    assert.equal(await store.exists("x/y"), false);
  }));

Deno.test("list and deletePrefix see only the keys under the prefix", () =>
  withStore(async (store) => {
    await store.put("models/a/config.json", bytes(1));
    await store.put("models/a/sub/x.bin", bytes(1));
    await store.put("models/ab/config.json", bytes(1));
    assert.deepEqual(await store.list("models/a"), ["models/a/config.json", "models/a/sub/x.bin"]);
    await store.deletePrefix("models/a");
    assert.deepEqual(await store.list("models/a"), []);
    assert.deepEqual(await store.list("models/ab"), ["models/ab/config.json"]);
  }));

Deno.test("keys that could escape the store are refused", () =>
  withStore(async (store) => {
    for (const key of ["../x", "a/../../x", "/abs", "a//b", ".hidden", "a/.tmp/x", "a\\b", ""]) {
      await assert.rejects(store.put(key, bytes(1)), InputError, key);
    }
  }));
