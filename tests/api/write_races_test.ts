/**
 * Racing writers: 25 concurrent PUTs of one model file (one writer at a time; the recorded sha256 and size are
 * always of the bytes stored), and a model delete racing an edit's creation (never a 204 and a 201 together),
 * on PGlite and, with TEST_DATABASE_URL, on a Postgres server.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { jobs, modelFiles, models } from "../../shared/db/index.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";
import { pairsJsonl, safetensorsBytes, tinyModelFiles } from "./fixtures.ts";
import { createHarness, type Harness, json } from "./harness.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function post(h: Harness, path: string, body: unknown): Promise<Response> {
  return await h.app.request(path, {
    method: "POST",
    headers: { ...h.keyA, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function uploadAll(h: Harness, id: string, files: Map<string, Uint8Array<ArrayBuffer>>): Promise<void> {
  for (const [name, bytes] of files) {
    const r = await h.app.request(`/v1/models/${id}/files/${name}`, {
      method: "PUT",
      headers: h.keyA,
      body: bytes,
    });
    assert(r.status === 201, `${name}: ${r.status} ${await r.text()}`);
  }
}

/** The tiny model's weights again with `tag` in the header's metadata: valid, and other bytes and size. */
function variant(weights: Uint8Array, tag: number): Uint8Array<ArrayBuffer> {
  const length = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + length))) as Record<
    string,
    unknown
  >;
  const data = weights.subarray(8 + length);
  const tensors = Object.entries(header).filter(([name]) => name !== "__metadata__").map(([name, t]) => {
    const info = t as { dtype: "F32"; shape: number[]; data_offsets: [number, number] };
    return {
      name,
      dtype: info.dtype,
      shape: info.shape,
      data: data.slice(info.data_offsets[0], info.data_offsets[1]),
    };
  });
  return safetensorsBytes(tensors, { variant: "x".repeat(tag) });
}

/**
 * The bodies as streams that send all but their last byte, wait until every one got that far, then finish
 * together: the uploads complete at the same moment, which is when their renames and inserts can interleave.
 */
function finishingTogether(bodies: Uint8Array[]): ReadableStream<Uint8Array>[] {
  let arrived = 0;
  let release!: () => void;
  const barrier = new Promise<void>((resolve) => release = resolve);
  return bodies.map((bytes) => {
    let stage = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (stage === 0) controller.enqueue(bytes.slice(0, -1));
        else if (stage === 1) {
          if (++arrived === bodies.length) release();
          await barrier;
          controller.enqueue(bytes.slice(-1));
        } else controller.close();
        stage++;
      },
    });
  });
}

async function racingPuts(url?: string): Promise<void> {
  const h = await createHarness({ url });
  try {
    const id = String((await json(await post(h, "/v1/models", { name: "raced" }))).id);
    const files = await tinyModelFiles();
    const weights = files.get("model.safetensors")!;
    files.delete("model.safetensors");
    await uploadAll(h, id, files);
    const bodies = Array.from({ length: 25 }, (_, i) => variant(weights, i + 1));
    const answers = await Promise.all(
      finishingTogether(bodies).map(async (body) => {
        const r = await h.app.request(`/v1/models/${id}/files/model.safetensors`, {
          method: "PUT",
          headers: h.keyA,
          body,
        });
        return { status: r.status, body: await json(r) };
      }),
    );
    const statuses = answers.map((a) => a.status);
    assert(statuses.every((s) => s === 201 || s === 409), `statuses ${statuses}`);
    assert(statuses.includes(201));
    for (const a of answers) {
      // A 201 reports the bytes of its own request; a 409 says why without a server path.
      if (a.status === 201) {
        assert(bodies.some((b) => sha256(b) === a.body.sha256 && b.byteLength === a.body.size));
      } else assert(!String(a.body.detail).includes(h.blobDir) && !String(a.body.detail).includes("/tmp"));
    }
    const [row] = await h.database.db.select().from(modelFiles)
      .where(and(eq(modelFiles.modelId, id), eq(modelFiles.filename, "model.safetensors")));
    const stored = await Deno.readFile(h.blobs.localPath(row.blobKey)!);
    assert.equal(row.status, "complete");
    assert.equal(row.sha256, sha256(stored), "recorded sha256 of other bytes than stored");
    assert.equal(row.size, stored.byteLength);
    const finalized = await h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
    const model = await json(finalized);
    assert.equal(finalized.status, 200, JSON.stringify(model));
    assert.equal((model.summary as { sha256: string }).sha256, sha256(stored));
    const listed = (model.files as { name: string; sha256: string; size: number }[])
      .find((f) => f.name === "model.safetensors")!;
    assert.deepEqual([listed.sha256, listed.size], [sha256(stored), stored.byteLength]);
    assert.deepEqual(Array.from(Deno.readDirSync(`${h.blobDir}/.tmp`)), [], "no staging file left");
  } finally {
    await h.close();
  }
}

Deno.test("25 racing PUTs of one model file: each 201 or 409, the recorded sha256/size are the stored bytes' (PGlite)", () =>
  racingPuts());

Deno.test({
  name:
    "25 racing PUTs of one model file on a Postgres server: the recorded sha256/size are the stored bytes'",
  ignore: noPostgres(),
  fn: () => racingPuts(testDatabaseUrl),
});

async function deleteVersusEdit(url?: string): Promise<void> {
  const h = await createHarness({ url });
  try {
    const files = await tinyModelFiles();
    const dataset = await h.app.request("/v1/datasets?name=pairs", {
      method: "POST",
      headers: h.keyA,
      body: pairsJsonl(8),
    });
    const datasetId = String((await json(dataset)).id);
    const seen = { deleted: 0, created: 0 };
    for (let round = 0; round < 12; round++) {
      const id = String((await json(await post(h, "/v1/models", { name: `m${round}` }))).id);
      await uploadAll(h, id, files);
      const f = await h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
      assert.equal(f.status, 200);
      // Alternate which request starts first so both orders are exercised.
      const remove = () => h.app.request(`/v1/models/${id}`, { method: "DELETE", headers: h.keyA });
      const edit = () => post(h, "/v1/edits", { model_id: id, dataset_id: datasetId, params: { rank: 1 } });
      const [d, e] = round % 2 === 0
        ? await Promise.all([remove(), edit()])
        : (await Promise.all([edit(), remove()])).reverse();
      const detail = `round ${round}: delete ${d.status} ${await d.text()}, edit ${e.status} ${await e
        .text()}`;
      assert(!(d.status === 204 && e.status === 201), `both succeeded: ${detail}`);
      const [model] = await h.database.db.select().from(models).where(eq(models.id, id));
      const queued = await h.database.db.select().from(jobs).where(eq(jobs.modelId, id));
      if (d.status === 204) {
        assert.equal(e.status, 404, detail);
        assert(!model && queued.length === 0, detail);
        seen.deleted++;
      } else {
        assert.deepEqual([d.status, e.status], [409, 201], detail);
        assert(model && queued.length === 1, detail);
        seen.created++;
        // Leave no queued job behind for the next round's statistics.
        await h.app.request(`/v1/edits/${queued[0].id}/cancel`, { method: "POST", headers: h.keyA });
      }
    }
    assert.equal(seen.deleted + seen.created, 12);
  } finally {
    await h.close();
  }
}

Deno.test("a model delete racing POST /v1/edits: never 204 and 201 together (PGlite)", () =>
  deleteVersusEdit());

Deno.test({
  name: "a model delete racing POST /v1/edits on a Postgres server: never 204 and 201 together",
  ignore: noPostgres(),
  fn: () => deleteVersusEdit(testDatabaseUrl),
});
