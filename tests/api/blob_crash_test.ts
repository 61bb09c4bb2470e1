/**
 * kill -9 of the API process at every step of an upload, then the janitor: nothing is left behind and nothing
 * a row references is removed. The steps: mid-stream (a staging file in `.tmp/`), and — by killing at random
 * moments while uploads of datasets and model files run back to back — between the rename and the insert, and
 * between a model file's claim and its completion. After the last kill the database (PGlite, on disk) and the
 * blob directory are opened here, `runJanitor` runs with no grace period, and every key left must be one a row
 * records, every complete row's blob must hold the recorded bytes, and `.tmp/` must be empty.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runJanitor } from "../../infra/janitor.ts";
import { BLOB_ROOTS } from "../../shared/blobs/keys.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { datasets, modelFiles, openDatabase } from "../../shared/db/index.ts";
import { referencedBlobKeys } from "../../shared/db/repositories/blob_refs.ts";
import { pairsJsonl } from "./fixtures.ts";
import { waitFor } from "../helpers/wait_for.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const KEY = "test-bootstrap-key-0123456789-abcdefghij";
const auth = { Authorization: `Bearer ${KEY}` };

async function startApi(dataDir: string): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "serve", "--port", "0", "--backend", "cpu"],
    env: {
      PROFS_DATA_DIR: dataDir,
      PROFS_BOOTSTRAP_KEY: KEY,
      DATABASE_URL: "",
      PROFS_LOG_LEVEL: "error",
      PROFS_JANITOR_INTERVAL_SECONDS: "0",
    },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited before listening: ${out}`);
    out += value;
  }
  reader.releaseLock();
  return { child, url: /listening on (\S+)/.exec(out)![1] };
}

async function kill9(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
}

async function createModel(url: string): Promise<string> {
  const r = await fetch(`${url}/v1/models`, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "m" }),
  });
  return (await r.json()).id;
}

/**
 * Uploads datasets and model files back to back until the process dies; how many answered 201. `onStored` hears
 * each 201 (the count so far).
 */
async function uploadUntilKilled(
  url: string,
  modelId: string,
  onStored: (n: number) => void,
): Promise<number> {
  let stored = 0;
  for (let i = 0;; i++) {
    try {
      const r = i % 2 === 0
        ? await fetch(`${url}/v1/datasets?name=d${i}`, {
          method: "POST",
          headers: auth,
          body: pairsJsonl(40 + i),
        })
        : await fetch(`${url}/v1/models/${modelId}/files/file${i % 6}.json`, {
          method: "PUT",
          headers: auth,
          body: JSON.stringify({ i, pad: "x".repeat(2000 * (i % 5)) }),
        });
      await r.body?.cancel();
      if (r.status === 201) onStored(++stored);
    } catch {
      return stored; // the connection died with the process
    }
  }
}

Deno.test("kill -9 mid-upload and at random steps of uploads, then the janitor: nothing left, nothing referenced removed", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-crash-" });
  const blobDir = join(dataDir, "blobs");
  try {
    // 1. Mid-stream: a raw connection promises 4 MB of pairs, sends 1 MB, and the process dies meanwhile.
    let { child, url } = await startApi(dataDir);
    const modelId = await createModel(url);
    const kept = await fetch(`${url}/v1/datasets?name=kept`, {
      method: "POST",
      headers: auth,
      body: pairsJsonl(8),
    });
    assert.equal(kept.status, 201);
    const keptDataset = await kept.json();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
    await conn.write(new TextEncoder().encode(
      `POST /v1/datasets?name=half HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
        `Content-Length: ${4 * 1024 ** 2}\r\n\r\n`,
    ));
    await conn.write(new TextEncoder().encode(pairsJsonl(1).repeat(1024 ** 2 / pairsJsonl(1).length)));
    await waitFor(async () => {
      for await (const entry of Deno.readDir(join(blobDir, ".tmp"))) {
        if ((await Deno.stat(join(blobDir, ".tmp", entry.name))).size > 0) return true;
      }
      return false;
    }, { message: "the half upload's staging file" });
    await kill9(child);
    conn.close();
    assert.equal(
      Array.from(Deno.readDirSync(join(blobDir, ".tmp"))).length,
      1,
      "the killed upload's staging file",
    );

    // 2. Random moments: uploads back to back, the process killed 0–40 ms after a random number (1–6) of them
    // completed, so the kill lands somewhere in the next one (streaming, renaming, claiming or inserting), three
    // times. Counting completions rather than wall time keeps the rounds alike on a loaded machine.
    let stored = 0;
    for (let round = 0; round < 3; round++) {
      ({ child, url } = await startApi(dataDir));
      const target = 1 + Math.floor(Math.random() * 6);
      let reached!: () => void;
      const enough = new Promise<void>((resolve) => reached = resolve);
      const uploads = uploadUntilKilled(url, modelId, (n) => n >= target && reached());
      await enough;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
      await kill9(child);
      stored += await uploads;
    }
    assert(stored >= 3, "uploads completed between the kills");

    // 3. The janitor, with no grace period, over what the kills left.
    const database = await openDatabase({ dataDir, migrate: false });
    try {
      const blobs = await createLocalBlobStore(blobDir);
      const report = await runJanitor({ db: database.db, blobs, graceMs: 0 });
      assert(report.staging >= 1, `the staging file(s) removed: ${JSON.stringify(report)}`);
      assert.deepEqual(Array.from(Deno.readDirSync(join(blobDir, ".tmp"))), []);
      const keys: string[] = [];
      for (const root of BLOB_ROOTS) keys.push(...await blobs.list(root));
      const referenced = await referencedBlobKeys(database.db, keys);
      assert.deepEqual(keys.filter((k) => !referenced.has(k)), [], "every blob left is owned by a row");

      const sha = async (key: string) =>
        createHash("sha256").update(await Deno.readFile(blobs.localPath(key)!));
      const rows = [
        ...await database.db.select().from(datasets),
        ...(await database.db.select().from(modelFiles)).filter((f) => f.status === "complete"),
      ];
      assert(rows.length >= 2);
      for (const row of rows) {
        assert(await blobs.exists(row.blobKey), `row's blob ${row.blobKey} was removed`);
        assert.equal((await sha(row.blobKey)).digest("hex"), row.sha256, `${row.blobKey} holds other bytes`);
      }
      assert(
        rows.some((r) => r.id === keptDataset.id),
        "the dataset stored before the kills is still recorded",
      );
    } finally {
      await database.close();
    }

    // 4. The service starts again over what is left and serves the dataset stored before the kills.
    ({ child, url } = await startApi(dataDir));
    try {
      const again = await fetch(`${url}/v1/datasets/${keptDataset.id}`, { headers: auth });
      assert.equal(again.status, 200);
      await again.body?.cancel();
    } finally {
      await kill9(child);
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
