/**
 * What every BlobStore must do, as named cases that blobs_local_test.ts and blobs_s3_test.ts run on their own
 * store: streamed puts with size and sha256, the maxBytes cap, a failed stream that keeps the previous blob,
 * inclusive ranges, missing keys, prefix listing and deletion, and keys that could escape the store. Each test
 * file adds what only its store has (temporary files, multipart uploads, bucket prefixes).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type BlobStore, BlobTooLargeError } from "../../shared/blobs/store.ts";
import { InputError } from "../../shared/errors.ts";

export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

export function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.slice(i, i + size));
  return ReadableStream.from(parts);
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** The store under test; `assertNothingStaged` checks that a refused or failed put left nothing half-written. */
export interface ContractStore {
  store: BlobStore;
  assertNothingStaged(): Promise<void>;
}

export interface ContractCase {
  name: string;
  run(target: ContractStore): Promise<void>;
}

export const BLOB_STORE_CONTRACT: readonly ContractCase[] = [
  {
    name: "put streams a blob in chunks and reports its size and sha256",
    async run({ store }) {
      const data = bytes(1_000_003);
      const info = await store.put("models/m1/model.safetensors", chunked(data, 65_537));
      assert.deepEqual(info, { key: "models/m1/model.safetensors", size: data.length, sha256: sha256(data) });
      const read = await store.get("models/m1/model.safetensors");
      assert.ok(read);
      assert.equal(read.size, data.length);
      assert.equal(read.range, null);
      assert.deepEqual(await readAll(read.body), data);
      assert.equal((await store.stat("models/m1/model.safetensors"))?.size, data.length);
      assert.equal((await store.put("models/m1/empty", new Uint8Array())).size, 0);
      assert.deepEqual(await readAll((await store.get("models/m1/empty"))!.body), new Uint8Array());
    },
  },
  {
    name: "put exactly at maxBytes succeeds and one byte over stores nothing",
    async run({ store, assertNothingStaged }) {
      const limit = 4096;
      await store.put("a/at-limit", chunked(bytes(limit), 1000), { maxBytes: limit });
      assert.equal((await store.stat("a/at-limit"))?.size, limit);
      await assert.rejects(
        store.put("a/over", chunked(bytes(limit + 1), 1000), { maxBytes: limit }),
        BlobTooLargeError,
      );
      assert.equal(await store.exists("a/over"), false);
      await assertNothingStaged();
    },
  },
  {
    name: "a stream that fails midway stores nothing and keeps the previous blob",
    async run({ store, assertNothingStaged }) {
      for (const [size, after] of [[100, 3], [1_000_000, 7]]) {
        await store.put("k/file", bytes(10));
        let sent = 0;
        const failing = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < after) controller.enqueue(bytes(size));
            else controller.error(new Error("client went away"));
          },
        });
        await assert.rejects(store.put("k/file", failing), /client went away/);
        assert.deepEqual(
          await readAll((await store.get("k/file"))!.body),
          bytes(10),
          `${size * after} bytes`,
        );
        await assertNothingStaged();
      }
    },
  },
  {
    name: "get with a range returns exactly the inclusive byte range",
    async run({ store }) {
      const data = bytes(700_000);
      await store.put("r/blob", data);
      // No [0, 0] here: s3rver reads `bytes=0-0` as "from 0 to the end" (S3 itself answers one byte).
      for (
        const [start, end] of [[0, 1], [1, 1], [5, 9], [262_143, 262_145], [699_999, 699_999], [0, 699_999]]
      ) {
        const read = await store.get("r/blob", { start, end });
        assert.ok(read);
        assert.deepEqual(read.range, { start, end });
        assert.equal(read.size, data.length);
        assert.deepEqual(await readAll(read.body), data.subarray(start, end + 1), `range ${start}-${end}`);
      }
      await assert.rejects(store.get("r/blob", { start: 10, end: 700_000 }), RangeError);
      await assert.rejects(store.get("r/blob", { start: 700_000, end: 700_001 }), RangeError);
      await assert.rejects(store.get("r/blob", { start: 10, end: 9 }), RangeError);
    },
  },
  {
    name: "missing blobs read as null and delete reports whether something was there",
    async run({ store }) {
      assert.equal(await store.get("nothing/here"), null);
      assert.equal(await store.stat("nothing/here"), null);
      assert.equal(await store.delete("nothing/here"), false);
      await store.put("x/y", bytes(3));
      assert.equal(await store.delete("x/y"), true);
      assert.equal(await store.exists("x/y"), false);
    },
  },
  {
    name: "list and deletePrefix see only the keys under the prefix",
    async run({ store }) {
      await store.put("models/a/config.json", bytes(1));
      await store.put("models/a/sub/x.bin", bytes(1));
      await store.put("models/ab/config.json", bytes(1));
      assert.deepEqual(await store.list("models/a"), ["models/a/config.json", "models/a/sub/x.bin"]);
      await store.deletePrefix("models/a");
      assert.deepEqual(await store.list("models/a"), []);
      assert.deepEqual(await store.list("models/ab"), ["models/ab/config.json"]);
    },
  },
  {
    name: "keys that could escape the store are refused",
    async run({ store }) {
      for (const key of ["../x", "a/../../x", "/abs", "a//b", ".hidden", "a\\b", ""]) {
        await assert.rejects(store.put(key, bytes(1)), InputError, key);
      }
    },
  },
];
