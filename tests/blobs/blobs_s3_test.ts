/**
 * The S3 blob store against s3rver (a local S3-compatible server run under Node): the same behaviour as the
 * local store, plus multipart uploads, key prefixes sharing one bucket, and the configuration that selects it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { blobStoreConfigFromEnv } from "../../shared/blobs/from_env.ts";
import { withBlobFolder } from "../../shared/blobs/folder.ts";
import { createS3BlobStore } from "../../shared/blobs/s3.ts";
import { type BlobStore, BlobTooLargeError } from "../../shared/blobs/store.ts";
import { InputError } from "../../shared/errors.ts";
import { type LocalS3, startS3rver } from "../helpers/s3rver.ts";
import { followFile } from "../../gpu-worker/worker/jobs/follow_file.ts";

/** S3's smallest allowed part: bodies past it take the multipart path. */
const PART = 5 * 1024 * 1024;

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

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Every object in the bucket, whatever its prefix: what a put that failed must not have left behind. */
async function allObjects(s3: LocalS3): Promise<string[]> {
  const root = await createS3BlobStore(s3.options());
  const out: string[] = [];
  for (const top of ["t", "other"]) out.push(...await root.list(top));
  return out;
}

Deno.test("S3 blob store against s3rver", async (t) => {
  const s3 = await startS3rver();
  try {
    const store: BlobStore = await createS3BlobStore({ ...s3.options("t/"), partBytes: PART });

    await t.step("put streams a blob in chunks and reports its size and sha256", async () => {
      const data = bytes(1_000_003);
      const info = await store.put("models/m1/model.safetensors", chunked(data, 65_537));
      assert.deepEqual(info, { key: "models/m1/model.safetensors", size: data.length, sha256: sha256(data) });
      const read = await store.get("models/m1/model.safetensors");
      assert.ok(read);
      assert.equal(read.size, data.length);
      assert.equal(read.range, null);
      assert.deepEqual(await readAll(read.body), data);
      assert.equal((await store.stat("models/m1/model.safetensors"))?.size, data.length);
      assert.equal(store.localPath("models/m1/model.safetensors"), null);
      assert.equal((await store.put("models/m1/empty", new Uint8Array())).size, 0);
      assert.deepEqual(await readAll((await store.get("models/m1/empty"))!.body), new Uint8Array());
    });

    await t.step("a body larger than a part goes up in parts and reads back whole", async () => {
      const data = bytes(2 * PART + 123_457, 7);
      const info = await store.put("big/blob", chunked(data, 1_000_000));
      assert.equal(info.size, data.length);
      assert.equal(info.sha256, sha256(data));
      const read = await store.get("big/blob");
      assert.ok(read);
      assert.equal(read.size, data.length);
      assert.equal(sha256(await readAll(read.body)), sha256(data));
      const tail = await store.get("big/blob", { start: PART - 5, end: PART + 5 });
      assert.deepEqual(await readAll(tail!.body), data.subarray(PART - 5, PART + 6), "a range across parts");
      const whole = bytes(PART + 1, 3);
      assert.equal((await store.put("big/one-array", whole)).sha256, sha256(whole));
      assert.deepEqual(await readAll((await store.get("big/one-array"))!.body), whole);
    });

    await t.step(
      "a file followed while it is written goes up in parts, completed only with its producer's hash",
      async () => {
        const dir = await Deno.makeTempDir({ prefix: "profs-s3-follow-" });
        try {
          const path = `${dir}/model.safetensors`;
          const data = bytes(3 * PART + 1000, 5);
          const writer = new AbortController();
          const producerHash = Promise.withResolvers<string>();
          let read = 0;
          const body = followFile(path, data.length, writer.signal, { pollMs: 2 }).pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                read += chunk.byteLength;
                controller.enqueue(chunk);
              },
            }),
          );
          const putting = store.put("streamed/model.safetensors", body, { sha256: producerHash.promise });
          const file = await Deno.open(path, { write: true, createNew: true });
          for (let at = 0; at < data.length; at += PART) {
            await file.write(data.subarray(at, at + PART));
            // The upload reads (and so sends its parts) while the file is written, or this waits forever.
            while (read < Math.min(data.length, at + PART)) await new Promise((r) => setTimeout(r, 5));
          }
          file.close();
          await new Promise((r) => setTimeout(r, 50));
          assert.equal(
            await store.exists("streamed/model.safetensors"),
            false,
            "not before the producer's hash",
          );
          producerHash.resolve("ab".repeat(32));
          assert.deepEqual(await putting, {
            key: "streamed/model.safetensors",
            size: data.length,
            sha256: "ab".repeat(32), // the producer's, not hashed again
          });
          assert.equal(
            sha256(await readAll((await store.get("streamed/model.safetensors"))!.body)),
            sha256(data),
          );

          // The producer fails after its last byte: its rejection fails the put and nothing is stored.
          const failed = Promise.withResolvers<string>();
          const again = store.put("streamed/failed", followFile(path, data.length, writer.signal), {
            sha256: failed.promise,
          });
          await new Promise((r) => setTimeout(r, 50));
          failed.reject(new Error("the edit failed"));
          await assert.rejects(again, /the edit failed/);
          assert.equal(await store.exists("streamed/failed"), false);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    );

    await t.step("put exactly at maxBytes succeeds and one byte over stores nothing", async () => {
      const limit = 4096;
      await store.put("a/at-limit", chunked(bytes(limit), 1000), { maxBytes: limit });
      assert.equal((await store.stat("a/at-limit"))?.size, limit);
      await assert.rejects(
        store.put("a/over", chunked(bytes(limit + 1), 1000), { maxBytes: limit }),
        BlobTooLargeError,
      );
      assert.equal(await store.exists("a/over"), false);
      // Over the cap after parts were already uploaded: the multipart upload is aborted, nothing appears.
      await assert.rejects(
        store.put("a/over-big", chunked(bytes(PART + 2000), 1000), { maxBytes: PART + 1000 }),
        BlobTooLargeError,
      );
      assert.equal(await store.exists("a/over-big"), false);
      assert.deepEqual(await store.list("a"), ["a/at-limit"]);
    });

    await t.step("a stream that fails midway stores nothing and keeps the previous blob", async () => {
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
      }
    });

    await t.step("get with a range returns exactly the inclusive byte range", async () => {
      const data = bytes(700_000);
      await store.put("r/blob", data);
      // No [0, 0]: s3rver reads `bytes=0-0` as "from 0 to the end" (S3 itself answers one byte).
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
    });

    await t.step("missing blobs read as null and delete reports whether something was there", async () => {
      assert.equal(await store.get("nothing/here"), null);
      assert.equal(await store.stat("nothing/here"), null);
      assert.equal(await store.delete("nothing/here"), false);
      await store.put("x/y", bytes(3));
      assert.equal(await store.delete("x/y"), true);
      assert.equal(await store.exists("x/y"), false);
    });

    await t.step("list and deletePrefix see only the keys under the prefix", async () => {
      await store.put("models/a/config.json", bytes(1));
      await store.put("models/a/sub/x.bin", bytes(1));
      await store.put("models/ab/config.json", bytes(1));
      assert.deepEqual(await store.list("models/a"), ["models/a/config.json", "models/a/sub/x.bin"]);
      await store.deletePrefix("models/a");
      assert.deepEqual(await store.list("models/a"), []);
      assert.deepEqual(await store.list("models/ab"), ["models/ab/config.json"]);
    });

    await t.step("list pages through more keys than one answer holds", async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `many/k${String(i).padStart(4, "0")}`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, bytes(1))));
      }
      assert.deepEqual(await store.list("many"), keys);
      await store.deletePrefix("many");
      assert.deepEqual(await store.list("many"), []);
    });

    await t.step("stores with different prefixes share a bucket without seeing each other", async () => {
      const other = await createS3BlobStore(s3.options("other/"));
      await other.put("models/a/config.json", bytes(5, 9));
      assert.deepEqual(await store.list("models/ab"), ["models/ab/config.json"]);
      assert.deepEqual(await readAll((await other.get("models/a/config.json"))!.body), bytes(5, 9));
      assert.equal(await store.exists("models/a/config.json"), false);
      await other.deletePrefix("models");
      assert.deepEqual(await store.list("models/ab"), ["models/ab/config.json"]);
      assert.ok((await allObjects(s3)).every((key) => !key.startsWith("other/")));
    });

    await t.step("withBlobFolder downloads the blobs into a folder it removes afterwards", async () => {
      await store.put("models/f/config.json", new TextEncoder().encode('{"a":1}'));
      await store.put("models/f/sub/w.bin", bytes(300));
      let seen = "";
      const read = await withBlobFolder(store, "models/f", ["config.json", "sub/w.bin"], async (dir) => {
        seen = dir;
        return [await Deno.readTextFile(`${dir}/config.json`), await Deno.readFile(`${dir}/sub/w.bin`)];
      });
      assert.deepEqual(read, ['{"a":1}', bytes(300)]);
      await assert.rejects(Deno.stat(seen), Deno.errors.NotFound);
    });

    await t.step("keys that could escape the store are refused", async () => {
      for (const key of ["../x", "a/../../x", "/abs", "a//b", ".hidden", "a\\b", ""]) {
        await assert.rejects(store.put(key, bytes(1)), InputError, key);
      }
    });

    await t.step("a bucket that does not exist is refused when the store opens", async () => {
      await assert.rejects(
        createS3BlobStore({ ...s3.options(), bucket: "no-such-bucket" }),
        (error: Error) => error instanceof InputError && /no-such-bucket/.test(error.message),
      );
    });
  } finally {
    await s3.close();
  }
});

Deno.test("PROFS_BLOB_URL selects the S3 store with its settings; a bad URL or missing keys are refused", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const keys = { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" };
  assert.deepEqual(
    blobStoreConfigFromEnv(env({
      ...keys,
      PROFS_BLOB_URL: "s3://my-bucket/profs/prod/",
      PROFS_S3_ENDPOINT: "http://minio:9000",
      AWS_REGION: "eu-west-1",
    })),
    {
      kind: "s3",
      options: {
        bucket: "my-bucket",
        prefix: "profs/prod/",
        endpoint: "http://minio:9000",
        region: "eu-west-1",
        accessKeyId: "id",
        secretAccessKey: "secret",
        sessionToken: undefined,
      },
    },
  );
  const plain = blobStoreConfigFromEnv(env({ ...keys, PROFS_BLOB_URL: "s3://my-bucket" }));
  assert.ok(plain.kind === "s3");
  assert.equal(plain.options.prefix, "");
  assert.equal(plain.options.endpoint, undefined);
  assert.equal(plain.options.region, "us-east-1");
  for (const bad of ["https://my-bucket/x", "s3://", "s3://Bad_Bucket/x", "/shared/blobs"]) {
    assert.throws(() => blobStoreConfigFromEnv(env({ ...keys, PROFS_BLOB_URL: bad })), InputError, bad);
  }
  assert.throws(() => blobStoreConfigFromEnv(env({ PROFS_BLOB_URL: "s3://my-bucket" })), /AWS_ACCESS_KEY_ID/);
  assert.throws(
    () => blobStoreConfigFromEnv(env({ ...keys, PROFS_BLOB_URL: "s3://my-bucket", PROFS_BLOB_DIR: "/d" })),
    /PROFS_BLOB_DIR/,
  );
});
