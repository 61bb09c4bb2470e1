/**
 * `profs edit` never hangs and refuses what it can before the long work: fewer usable pairs than the rank, a
 * subspace step that fails at once, a rank past the hidden size, a missing or read-only output parent, too little
 * disk, embeddings of another model — each refused with one message and nothing left behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { writeModelFolder } from "../../gpu-worker/edit/write_model.ts";
import { main } from "../../main.ts";
import { untilAborted } from "../../shared/abort.ts";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { createCpuBackend } from "../../gpu-worker/profs/cpu/backend.ts";
import type { ProfsBackend } from "../../gpu-worker/profs/backend.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-guards-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const model = (await writeTinyGpt2(join(root, "model"), { layers: 4, hidden: 24, seed: 1 })).dir;
const embeddings = join(root, "embeddings.safetensors");
await writeSyntheticEmbeddings(embeddings, { layers: 4, pairs: 30, hidden: 24, seed: 2 });
let n = 0;
const fresh = (label: string) => join(root, `${label}-${n++}`);

/**
 * A bound on calls that used to hang, so a regression fails the test instead of stalling the suite; no edit of
 * this tiny model takes a tenth of it.
 */
const HANG_BOUND_MS = 60_000;
const bounded = <T>(work: Promise<T>) => untilAborted(work, AbortSignal.timeout(HANG_BOUND_MS));

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const { log, error } = console;
  let stderr = "";
  console.log = () => {};
  console.error = (...args: unknown[]) => stderr += args.join(" ") + "\n";
  try {
    return { value: await fn(), stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Entries of the folder holding `path` whose names start with its base name (catches left-over temp dirs). */
function leftovers(path: string): string[] {
  const dir = join(path, "..");
  const base = path.slice(dir.length + 1);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((name) => name.startsWith(base));
}

async function pairsFile(pairs: [string, string][]): Promise<string> {
  const path = fresh("pairs.jsonl");
  await Deno.writeTextFile(
    path,
    pairs.map(([preferred, rejected]) => JSON.stringify({ preferred, rejected }) + "\n").join(""),
  );
  return path;
}

Deno.test("profs edit with one pair at the default rank 2 exits 1 at once, names the rule, leaves nothing", async () => {
  const pairs = await pairsFile([["Thank you, friend.", "Shut up, you idiot!"]]);
  const out = fresh("one-pair");
  const { value: code, stderr } = await quiet(() =>
    bounded(main(["edit", "--model", model, "--pairs", pairs, "--out", out, "--backend", "cpu"]))
  );
  assert.equal(code, 1);
  assert.match(stderr, /rank 2 as it needs at least 2 usable pairs \(one per removed direction\).* has 1/);
  assert.doesNotMatch(stderr, /\[embedding\]/, "refused before any model work");
  assert.deepEqual(leftovers(out), []);
});

Deno.test("pairs with the same text on both sides do not count, and --max-pairs is applied first", async () => {
  const pairs = await pairsFile([["same", "same"], ["Thank you.", "Idiot!"], ["again", "again"]]);
  await assert.rejects(
    runEdit({ modelDir: model, outDir: fresh("x"), pairsFile: pairs, backend: "cpu" }),
    /the pairs file has 1 \(3 pairs; 2 with the same text on both sides\)/,
  );
  await assert.rejects(
    runEdit({ modelDir: model, outDir: fresh("x"), embeddingsFile: embeddings, backend: "cpu", maxPairs: 1 }),
    /the embeddings has 1 \(30 pairs; 1 after 'max_pairs' 1\)/,
  );
});

Deno.test("N = k pairs is an edit: two pairs at rank 2 succeed", async () => {
  const pairs = await pairsFile([["Thank you, friend.", "Shut up, you idiot!"], [
    "Lovely day.",
    "Stupid trash.",
  ]]);
  const { report } = await bounded(runEdit({
    modelDir: model,
    outDir: fresh("two"),
    pairsFile: pairs,
    backend: "cpu",
    maxTokens: 8,
  }));
  assert.equal(report.source.pairsUsed, 2);
  assert.equal(report.layers[0].singularValues.length, 2);
});

Deno.test("a rank past the hidden size is refused before the model is embedded", async () => {
  const pairs = await pairsFile(Array.from({ length: 30 }, (_, i) => [`nice ${i}`, `rude ${i}`]));
  const progress: string[] = [];
  await assert.rejects(
    runEdit({ modelDir: model, outDir: fresh("x"), pairsFile: pairs, backend: "cpu", rank: 24 }, {
      onProgress: (stage) => progress.push(stage),
    }),
    /'rank' must be at most 23 for hidden size 24 with centering/,
  );
  assert.ok(!progress.includes("embedding"));
});

/** The cpu backend with a toxicSubspace that fails at once, as the one-pair edit's did before it was refused. */
function failingBackend(): ProfsBackend {
  return {
    ...createCpuBackend(),
    toxicSubspace: () => Promise.reject(new InputError("subspace refused")),
  };
}

Deno.test("a subspace step that fails at once fails the edit (no stream left waiting for its layer)", async () => {
  // The hang's root cause: the loop aborted the model stream before the stream had attached its abort listener,
  // and the stream then waited at the first edited tensor for a subspace that was never resolved or rejected.
  const out = fresh("failing");
  await assert.rejects(
    bounded(runEdit({ modelDir: model, outDir: out, embeddingsFile: embeddings, backend: failingBackend() })),
    /subspace refused/,
  );
  assert.deepEqual(leftovers(out), []);
});

Deno.test("writeModelFolder rejects when its signal aborts during its set-up, before the thread starts", async () => {
  const folder = await openModelFolder(model);
  const out = fresh("aborted-stream");
  const controller = new AbortController();
  const never = new Promise<never>(() => {});
  try {
    const writing = writeModelFolder(folder, out, new Map([[folder.mlpOutputName(3), () => never]]), {
      signal: controller.signal,
    });
    controller.abort(new Error("stopped during set-up")); // writeModelFolder is at its first await
    await assert.rejects(bounded(writing), /stopped during set-up/);
  } finally {
    await folder.close();
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

Deno.test("an output folder whose parent is missing is refused before any work", async () => {
  await assert.rejects(
    runEdit({
      modelDir: model,
      outDir: join(fresh("missing"), "out"),
      embeddingsFile: embeddings,
      backend: "cpu",
    }),
    /'--out' as its parent folder must exist and be writable/,
  );
});

Deno.test("an output folder under a file is refused before any work", async () => {
  const file = fresh("a-file");
  await Deno.writeTextFile(file, "not a folder");
  await assert.rejects(
    runEdit({ modelDir: model, outDir: join(file, "out"), embeddingsFile: embeddings, backend: "cpu" }),
    /'--out' as its parent folder must exist and be writable: '.*a-file-\d+' \(Not a directory/,
  );
});

Deno.test({
  name: "a read-only output parent is refused before any work",
  ignore: Deno.uid() === 0, // root writes anywhere
  fn: async () => {
    const parent = fresh("read-only");
    await Deno.mkdir(parent);
    await Deno.chmod(parent, 0o555);
    try {
      await assert.rejects(
        runEdit({ modelDir: model, outDir: join(parent, "out"), embeddingsFile: embeddings, backend: "cpu" }),
        /parent folder must exist and be writable/,
      );
    } finally {
      await Deno.chmod(parent, 0o755);
    }
  },
});

Deno.test("too little free disk for the output is refused before any work, naming sizes", async () => {
  const out = fresh("full-disk");
  const weights = (await Deno.stat(join(model, "model.safetensors"))).size;
  const progress: string[] = [];
  await assert.rejects(
    runEdit({
      modelDir: model,
      outDir: out,
      embeddingsFile: embeddings,
      backend: "cpu",
      freeBytes: () => Promise.resolve(weights), // the weights fit, the margin for the patch and files does not
    }, { onProgress: (stage) => progress.push(stage) }),
    /filesystem must have 0\.\d\d GiB free .*: it has 0\.\d\d GiB/,
  );
  assert.deepEqual(progress, ["loading_model"]);
  assert.deepEqual(leftovers(out), []);
});

Deno.test("a missing pairs file is refused before the model is opened", async () => {
  await assert.rejects(
    runEdit({
      modelDir: fresh("no-model"),
      outDir: fresh("x"),
      pairsFile: fresh("absent.jsonl"),
      backend: "cpu",
    }),
    /Cannot read preference data .* must exist/,
  );
});

Deno.test("a flag value that looks like a flag is refused in one line, exit 1 (parseArgs says it in three)", async () => {
  const { value, stderr } = await quiet(() => main(["edit", "--model", "m", "--rank", "-1"]));
  assert.equal(value, 1);
  assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
  assert.match(
    stderr,
    /^profs edit: Option '--rank' argument is ambiguous\. Did you forget .* '--rank=-XYZ'\.$/m,
  );
});
