/**
 * The blob janitor (infra/janitor.ts): removes old staging files and old blobs no row references; keeps every
 * referenced blob, everything younger than the grace period, and everything under a queued or running job.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { janitorOptionsFromEnv, runJanitor, startJanitor } from "../../infra/janitor.ts";
import { silentLogger } from "../../shared/log.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { createHarness, type Harness, json, storedKeys } from "../api/harness.ts";
import { pairsJsonl } from "../api/fixtures.ts";
import { recordOrRemove } from "../../api/uploads/owned_blob.ts";
import { createS3BlobStore } from "../../shared/blobs/s3.ts";
import { startS3rver } from "../helpers/s3rver.ts";

const HOUR = 3_600_000;

/** Writes `key` straight into the store's directory, last modified `ageMs` ago. */
async function plant(h: Harness, key: string, ageMs: number): Promise<string> {
  const path = h.blobs.localPath(key)!;
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, `planted ${key}`);
  const at = new Date(Date.now() - ageMs);
  await Deno.utime(path, at, at);
  return key;
}

async function plantStaging(h: Harness, name: string, ageMs: number): Promise<string> {
  const path = join(h.blobDir, ".tmp", name);
  await Deno.writeTextFile(path, "half an upload");
  const at = new Date(Date.now() - ageMs);
  await Deno.utime(path, at, at);
  return name;
}

Deno.test("the janitor removes old staging files and old unreferenced blobs, and nothing referenced, young or running", async () => {
  const h = await createHarness();
  try {
    const uploaded = await h.app.request("/v1/datasets?name=pairs", {
      method: "POST",
      headers: h.keyA,
      body: pairsJsonl(4),
    });
    assert.equal(uploaded.status, 201);
    const model = await json(
      await h.app.request("/v1/models", {
        method: "POST",
        headers: { ...h.keyA, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "m" }),
      }),
    );
    const put = await h.app.request(`/v1/models/${model.id}/files/config.json`, {
      method: "PUT",
      headers: h.keyA,
      body: "{}",
    });
    assert.equal(put.status, 201);
    const referenced = await storedKeys(h);
    assert.equal(referenced.length, 2);
    // Age the referenced blobs too: a reference, not youth, must keep them.
    for (const key of referenced) {
      const old = new Date(Date.now() - 2 * HOUR);
      await Deno.utime(h.blobs.localPath(key)!, old, old);
    }

    const running = await h.queue.enqueue(h.database.db, { tenantId: h.tenantA, kind: "edit", params: {} });
    const finished = await h.queue.enqueue(h.database.db, { tenantId: h.tenantA, kind: "check", params: {} });
    assert.ok(await h.queue.requestCancel(h.database.db, h.tenantA, finished.id));

    const orphan = await plant(h, `datasets/${crypto.randomUUID()}/pairs.jsonl`, 2 * HOUR);
    const young = await plant(h, `datasets/${crypto.randomUUID()}/pairs.jsonl`, 60_000);
    const deadAttempt = await plant(h, `checks/${finished.id}/a1-deadbeef/check.json`, 2 * HOUR);
    const liveAttempt = await plant(h, `edits/${running.id}/a1-cafebabe/out/model.safetensors`, 2 * HOUR);
    const oldStaging = await plantStaging(h, crypto.randomUUID(), 2 * HOUR);
    const liveStaging = await plantStaging(h, crypto.randomUUID(), 1000);

    const report = await runJanitor({ db: h.database.db, blobs: h.blobs, graceMs: HOUR });
    assert.deepEqual(
      { staging: report.staging, blobs: report.blobs, kept: report.kept },
      { staging: 1, blobs: 2, kept: 2 },
    );
    const left = await storedKeys(h);
    assert.deepEqual(left.sort(), [...referenced, young, liveAttempt].sort());
    assert(!left.includes(orphan) && !left.includes(deadAttempt));
    const staging = Array.from(Deno.readDirSync(join(h.blobDir, ".tmp"))).map((e) => e.name);
    assert.deepEqual(staging, [liveStaging]);
    assert(!staging.includes(oldStaging));

    // The uploads still read back whole after the pass.
    const d = await json(uploaded);
    assert.equal((await h.app.request(`/v1/datasets/${d.id}`, { headers: h.keyA })).status, 200);
    assert.equal(await Deno.readTextFile(h.blobs.localPath(`models/${model.id}/config.json`)!), "{}");
  } finally {
    await h.close();
  }
});

Deno.test("write-then-insert: a failed insert removes the blob it was recording", async () => {
  const h = await createHarness();
  try {
    const info = await h.blobs.put(
      `datasets/${crypto.randomUUID()}/pairs.jsonl`,
      new TextEncoder().encode("x\n"),
    );
    await assert.rejects(
      recordOrRemove(h.blobs, info.key, () => Promise.reject(new Error("insert failed"))),
      /insert failed/,
    );
    assert.equal(await h.blobs.exists(info.key), false);
    const kept = await h.blobs.put(
      `datasets/${crypto.randomUUID()}/pairs.jsonl`,
      new TextEncoder().encode("y\n"),
    );
    assert.equal(await recordOrRemove(h.blobs, kept.key, () => Promise.resolve(7)), 7);
    assert.equal(await h.blobs.exists(kept.key), true);
  } finally {
    await h.close();
  }
});

Deno.test("the janitor on an S3 store (s3rver): an unreferenced object goes, a dataset's object stays", async () => {
  const s3 = await startS3rver();
  try {
    const blobs = await createS3BlobStore(s3.options("j/"));
    const h = await createHarness({ blobs });
    try {
      const uploaded = await h.app.request("/v1/datasets?name=pairs", {
        method: "POST",
        headers: h.keyA,
        body: pairsJsonl(4),
      });
      assert.equal(uploaded.status, 201);
      const [owned] = await storedKeys(h);
      const orphan =
        (await blobs.put(`datasets/${crypto.randomUUID()}/pairs.jsonl`, new TextEncoder().encode("x")))
          .key;
      // S3's Last-Modified has whole seconds: let both be in the past of a zero grace period.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const report = await runJanitor({ db: h.database.db, blobs, graceMs: 0 });
      assert.equal(report.blobs, 1);
      assert.deepEqual(await storedKeys(h), [owned]);
      assert.equal(await blobs.exists(orphan), false);
    } finally {
      await h.close();
    }
  } finally {
    await s3.close();
  }
});

Deno.test("a running service's janitor passes on its interval; the environment sets grace and interval", async () => {
  assert.deepEqual(janitorOptionsFromEnv(() => undefined), { graceMs: 3_600_000, intervalMs: 600_000 });
  assert.deepEqual(
    janitorOptionsFromEnv((n) =>
      ({ PROFS_JANITOR_GRACE_SECONDS: "120", PROFS_JANITOR_INTERVAL_SECONDS: "0" })[n]
    ),
    { graceMs: 120_000, intervalMs: 0 },
  );
  assert.throws(
    () => janitorOptionsFromEnv((n) => n === "PROFS_JANITOR_GRACE_SECONDS" ? "5" : undefined),
    /PROFS_JANITOR_GRACE_SECONDS must be a number of seconds of at least 60: current value is 5/,
  );
  const h = await createHarness();
  try {
    const stale = await plantStaging(h, crypto.randomUUID(), 2 * HOUR);
    const janitor = startJanitor({
      db: h.database.db,
      blobs: h.blobs,
      options: { graceMs: HOUR, intervalMs: 50 },
      logger: silentLogger,
    });
    try {
      await waitFor(() => !Deno.readDirSync(join(h.blobDir, ".tmp")).some((e) => e.name === stale), {
        message: "the periodic pass removing the stale staging file",
      });
    } finally {
      await janitor.stop();
    }
  } finally {
    await h.close();
  }
});
