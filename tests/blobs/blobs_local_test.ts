/**
 * The local blob store: the BlobStore contract (blob_contract.ts) on a fresh folder per case, plus what only a
 * folder has: temporary files under `.tmp` that a refused or failed put removes, and `.tmp` keys refused.
 */
import assert from "node:assert/strict";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { InputError } from "../../shared/errors.ts";
import { BLOB_STORE_CONTRACT, bytes, chunked, readAll } from "./blob_contract.ts";

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

for (const contract of BLOB_STORE_CONTRACT) {
  Deno.test(contract.name, () =>
    withStore((store, root) =>
      contract.run({
        store,
        assertNothingStaged: () => {
          assert.deepEqual([...Deno.readDirSync(`${root}/.tmp`)], [], "no temporary file left behind");
          return Promise.resolve();
        },
      })
    ));
}

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

Deno.test("a range of one byte at the start is that byte", () =>
  withStore(async (store) => {
    await store.put("r/blob", bytes(10));
    const read = await store.get("r/blob", { start: 0, end: 0 });
    assert.deepEqual(read?.range, { start: 0, end: 0 });
    assert.deepEqual(await readAll(read!.body), bytes(10).subarray(0, 1));
  }));

Deno.test("keys inside the store's temporary folder are refused", () =>
  withStore(async (store) => {
    await assert.rejects(store.put("a/.tmp/x", bytes(1)), InputError, "a/.tmp/x");
  }));
