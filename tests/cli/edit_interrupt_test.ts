/**
 * `profs edit` on a model large enough that its stream takes a while: SIGTERM mid-edit removes the partial output
 * and exits non-zero; embeddings of another model are refused before any long work; `--overwrite` replaces an
 * existing output only once the new one is complete.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { writeEmbeddings } from "../../shared/formats/embeddings.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-interrupt-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
// D = 384, 6 blocks: ~95 MB of float32 weights (the 50,257-token embedding alone is 77 MB) — seconds to stream here.
const LAYERS = 6;
const HIDDEN = 384;
const model =
  (await writeTinyGpt2(join(root, "model"), { layers: LAYERS, hidden: HIDDEN, heads: 6, seed: 3 })).dir;
const embeddings = join(root, "embeddings.safetensors");
await writeSyntheticEmbeddings(embeddings, { layers: LAYERS, pairs: 40, hidden: HIDDEN, seed: 4 });
let n = 0;
const fresh = (label: string) => join(root, `${label}-${n++}`);

function leftovers(path: string): string[] {
  const dir = join(path, "..");
  const base = path.slice(dir.length + 1);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((name) => name.startsWith(base));
}

/** Reads `stream` line by line, calling `onLine` for each, until it ends; resolves with every line. */
async function lines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<string[]> {
  const all: string[] = [];
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const line of parts) {
      all.push(line);
      onLine(line);
    }
  }
  if (rest) all.push(rest);
  return all;
}

Deno.test("SIGTERM during profs edit removes the partial output and exits 143 with one line saying so", async () => {
  const out = fresh("interrupted");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "--allow-all", "main.ts", "edit", "--model", model, "--embeddings", embeddings],
      ...["--out", out, "--backend", "cpu"],
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let partialSeen: string[] = [];
  // The first subspace is done: the model stream is running in its thread and the partial folder has files.
  const stderr = lines(child.stderr, (line) => {
    if (line.startsWith("[svd]") && partialSeen.length === 0) {
      partialSeen = leftovers(out);
      child.kill("SIGTERM");
    }
  });
  const status = await child.status;
  const text = (await stderr).join("\n");
  assert.equal(partialSeen.length, 1, `the partial folder existed when the signal was sent: ${text}`);
  assert.match(partialSeen[0], /\.partial-[0-9a-f]{8}$/);
  assert.equal(status.code, 143, text);
  assert.match(text, /profs edit: interrupted by SIGTERM: the partial output was removed/);
  assert.deepEqual(leftovers(out), []);
});

Deno.test("embeddings of another shape or pooling are refused before the model is read or anything is written", async () => {
  for (
    const [label, write, message] of [
      [
        "hidden size",
        (path: string) => writeSyntheticEmbeddings(path, { layers: LAYERS, pairs: 8, hidden: 24 }),
        /layers × hidden size must be 6 × 384 as the model's: it is 6 × 24/,
      ],
      [
        "layers",
        (path: string) => writeSyntheticEmbeddings(path, { layers: 12, pairs: 8, hidden: HIDDEN }),
        /layers × hidden size must be 6 × 384 as the model's: it is 12 × 384/,
      ],
      [
        "pooling",
        (path: string) =>
          writeEmbeddings(path, {
            preferred: Array.from({ length: LAYERS }, () => new Float32Array(8 * HIDDEN)),
            rejected: Array.from({ length: LAYERS }, () => new Float32Array(8 * HIDDEN).fill(1)),
            numPairs: 8,
            hiddenSize: HIDDEN,
          }, { pooling: "last-token" }),
        /pooling must be 'masked-mean': current value is 'last-token'/,
      ],
    ] as const
  ) {
    const path = fresh(`${label}.safetensors`);
    await write(path);
    const out = fresh("refused");
    await assert.rejects(
      runEdit({ modelDir: model, outDir: out, embeddingsFile: path, backend: "cpu" }),
      message,
    );
    assert.deepEqual(leftovers(out), []);
  }
});

Deno.test("embeddings recording another model's sha256 are refused: by the copy's hash, or at once when the caller knows the model's", async () => {
  const stale = fresh("stale.safetensors");
  await writeSyntheticEmbeddings(stale, {
    layers: LAYERS,
    pairs: 8,
    hidden: HIDDEN,
    modelSha256: "ab".repeat(32),
  });
  const refusal =
    /their model_sha256 must match the model's weights \([0-9a-f]{64}\): current value is (ab){32}/;
  // The CLI: the model is hashed once, by the copy, which ends the edit when it has read the last byte.
  const out = fresh("stale-out");
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, embeddingsFile: stale, backend: "cpu" }),
    refusal,
  );
  assert.deepEqual(leftovers(out), []);
  // The worker passes the sha256 recorded at finalize: refused before the stream or any subspace starts.
  const base = await openModelFolder(model);
  const modelSha256 = await base.sha256();
  await base.close();
  const known = fresh("stale-known");
  const stages: string[] = [];
  await assert.rejects(
    runEdit({ modelDir: model, outDir: known, embeddingsFile: stale, backend: "cpu", modelSha256 }, {
      onProgress: (stage) => stages.push(stage),
    }),
    refusal,
  );
  assert.deepEqual(stages, ["loading_model"], "no subspace, no write");
  assert.deepEqual(leftovers(known), []);
});

Deno.test("--overwrite replaces an existing output only after success; a failed edit leaves it as it was", async () => {
  const out = fresh("kept");
  await Deno.mkdir(out);
  await Deno.writeTextFile(join(out, "old.txt"), "the previous output");
  // A failing edit (rank past the pairs) with --overwrite: the old output stays, nothing else is left.
  const few = fresh("few.safetensors");
  await writeSyntheticEmbeddings(few, { layers: LAYERS, pairs: 1, hidden: HIDDEN });
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, embeddingsFile: few, backend: "cpu", overwrite: true }),
    /needs at least 2 usable pairs/,
  );
  assert.equal(await Deno.readTextFile(join(out, "old.txt")), "the previous output");
  // Without --overwrite the existing folder is refused, naming the flag.
  await assert.rejects(
    runEdit({
      modelDir: model,
      outDir: out,
      embeddingsFile: embeddings,
      backend: "cpu",
      layers: { from: 5, to: 6 },
    }),
    /'--out' as it must not exist yet \(or pass '--overwrite'\)/,
  );
  const { report } = await runEdit({
    modelDir: model,
    outDir: out,
    embeddingsFile: embeddings,
    backend: "cpu",
    layers: { from: 5, to: 6 },
    overwrite: true,
  });
  const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assert.ok(!names.includes("old.txt"), names.join(", "));
  assert.ok(names.includes("report.json") && names.includes("model.safetensors"));
  assert.deepEqual(leftovers(out), [out.slice(root.length + 1)], "no partial or replaced folder left");
  const edited = await openModelFolder(out);
  try {
    assert.equal(await edited.sha256(), report.editedModelSha256);
  } finally {
    await edited.close();
  }
});

Deno.test("--overwrite refuses an output folder that holds the model or the data", async () => {
  await assert.rejects(
    runEdit({ modelDir: model, outDir: model, embeddingsFile: embeddings, backend: "cpu", overwrite: true }),
    /Cannot overwrite '--out' as it must not hold an input of the edit/,
  );
  await assert.rejects(
    runEdit({ modelDir: model, outDir: root, embeddingsFile: embeddings, backend: "cpu", overwrite: true }),
    /must not hold an input of the edit/,
  );
});
