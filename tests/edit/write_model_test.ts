/**
 * writeModelFolder: the weight files stream out in another thread while transforms run on the calling thread,
 * possibly waiting on work that finishes later (as the edit pipeline's subspaces do).
 */
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeModelFolder } from "../../gpu-worker/edit/write_model.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import type { Matrix } from "../../gpu-worker/profs/backend.ts";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const dir = await Deno.makeTempDir({ prefix: "profs-write-model-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let seq = 0;
const fresh = (name: string) => join(dir, `${seq++}-${name}`);

/** Doubles a matrix in place, as the cpu backend edits in place. */
const double = (weight: Matrix) => {
  for (let i = 0; i < weight.data.length; i++) weight.data[i] *= 2;
  return Promise.resolve(weight);
};

for (const { dtype, shards } of [{ dtype: "F32", shards: 1 }, { dtype: "BF16", shards: 2 }] as const) {
  Deno.test(`${dtype} in ${shards} file(s): transformed tensors come back edited, the rest byte-identical, hashes match`, async () => {
    const { dir: modelDir } = await writeTinyGpt2(fresh("model"), { layers: 3, hidden: 24, dtype, shards });
    const model = await openModelFolder(modelDir);
    const out = fresh("out");
    try {
      const edited = [model.mlpOutputName(0), model.mlpOutputName(2)];
      // Layer 2's transform waits until layer 0's has run, so the stream is held at a tensor for a while.
      const first = Promise.withResolvers<void>();
      const transforms = new Map([
        [edited[0], async (w: Matrix) => {
          const result = await double(w);
          setTimeout(first.resolve, 50);
          return result;
        }],
        [edited[1], async (w: Matrix) => {
          await first.promise;
          return double(w);
        }],
      ]);
      const progress: number[] = [];
      const written = await writeModelFolder(model, out, transforms, {
        onTensor: (done, total) => {
          assert.equal(total, model.tensorNames().length);
          progress.push(done);
        },
      });
      assert.deepEqual(progress, model.tensorNames().map((_, i) => i + 1));
      assert.equal(written.inputSha256, await model.sha256());
      const copy = await openModelFolder(out);
      assert.equal(written.outputSha256, await copy.sha256());
      await copy.close();
      // Each written file's own sha256 too (what the blob store records when a job publishes it in place).
      for (const file of model.weightFiles) {
        const own = createHash("sha256").update(await Deno.readFile(join(out, file))).digest("hex");
        assert.equal(written.fileSha256[file], own, `${file}: its own sha256`);
      }
      for (const file of model.weightFiles) {
        const before = model.reader(file);
        const after = await openSafetensors(join(out, file));
        assert.deepEqual(after.headerJson, before.headerJson, `${file}: header copied verbatim`);
        for (const t of before.header.tensors) {
          if (edited.includes(t.name)) {
            const original = await before.readFloat32(t.name);
            assert.deepEqual(await after.readFloat32(t.name), original.map((x) => 2 * x), t.name);
          } else {
            assert.deepEqual(await after.readBytes(t.name), await before.readBytes(t.name), t.name);
          }
        }
        await after.close();
      }
    } finally {
      await model.close();
    }
  });
}

Deno.test("the copy and the input's hash do not wait for transforms: the input hash is known while the first is pending", async () => {
  const { dir: modelDir } = await writeTinyGpt2(fresh("model"), { layers: 3, hidden: 24, shards: 2 });
  const model = await openModelFolder(modelDir);
  const out = fresh("out");
  try {
    const inputHashed = Promise.withResolvers<string>();
    const events: string[] = [];
    // Every transform waits until the input hash has arrived: a stream that waited at a transformed tensor
    // (as one writing in storage order must) would never get there.
    const transforms = new Map([0, 1, 2].map((l) => [model.mlpOutputName(l), async (w: Matrix) => {
      await inputHashed.promise;
      events.push(`transform ${l}`);
      return double(w);
    }]));
    // The watermarks: below each, a file's bytes are final (an upload that follows the file reads only that far).
    const marks = new Map<number, number>();
    const snapshots: { file: number; bytes: Uint8Array }[] = [];
    const written = await writeModelFolder(model, out, transforms, {
      onWritten: (file, upTo) => {
        assert.ok(upTo > (marks.get(file) ?? 0), "a watermark only grows");
        marks.set(file, upTo);
      },
      onInputHashed: (sha) => {
        events.push("input hashed");
        // The copy is done but no transform is: each file is final only up to its first transformed tensor.
        for (const [file, upTo] of marks) {
          const path = join(out, model.weightFiles[file]);
          snapshots.push({ file, bytes: Deno.readFileSync(path).slice(0, upTo) });
        }
        inputHashed.resolve(sha);
      },
    });
    assert.deepEqual(events, ["input hashed", "transform 0", "transform 1", "transform 2"]);
    for (const [i, file] of model.weightFiles.entries()) {
      const whole = await Deno.readFile(join(out, file));
      assert.equal(marks.get(i), whole.length, `${file}: the last watermark is the file's size`);
    }
    let partial = 0; // files whose watermark stopped at a pending transform
    for (const { file, bytes } of snapshots) {
      const whole = await Deno.readFile(join(out, model.weightFiles[file]));
      if (bytes.length < whole.length) partial++;
      assert.deepEqual(bytes, whole.slice(0, bytes.length), "the bytes below a watermark never change");
    }
    assert.ok(partial > 0, "a file with a pending transform is not final to its end");
    assert.equal(await inputHashed.promise, written.inputSha256);
    assert.equal(written.inputSha256, await model.sha256());
    const copy = await openModelFolder(out);
    assert.equal(written.outputSha256, await copy.sha256());
    await copy.close();
  } finally {
    await model.close();
  }
});

Deno.test("an exception thrown by onInputHashed fails the write with it", async () => {
  const { dir: modelDir } = await writeTinyGpt2(fresh("model"), { layers: 2, hidden: 24 });
  const model = await openModelFolder(modelDir);
  try {
    const never = new Promise<Matrix>(() => {});
    await assert.rejects(
      writeModelFolder(model, fresh("out"), new Map([[model.mlpOutputName(1), () => never]]), {
        onInputHashed: () => {
          throw new Error("weights changed since the check");
        },
      }),
      /weights changed since the check/,
    );
  } finally {
    await model.close();
  }
});

Deno.test("a failing transform, a changed shape or an abort rejects with its own error", async () => {
  const { dir: modelDir } = await writeTinyGpt2(fresh("model"), { layers: 2, hidden: 24 });
  const model = await openModelFolder(modelDir);
  const name = model.mlpOutputName(1);
  try {
    class Boom extends Error {}
    await assert.rejects(
      writeModelFolder(model, fresh("out"), new Map([[name, () => Promise.reject(new Boom("no device"))]])),
      (error: unknown) => error instanceof Boom && error.message === "no device",
    );
    await assert.rejects(
      writeModelFolder(
        model,
        fresh("out"),
        new Map([[name, (w: Matrix) => Promise.resolve({ ...w, rows: w.rows - 1 })]]),
      ),
      new RegExp(`transform of '${name.replaceAll(".", "\\.")}' changed its shape to 95×24`),
    );
    const controller = new AbortController();
    await assert.rejects(
      writeModelFolder(
        model,
        fresh("out"),
        new Map([[name, async (w: Matrix) => {
          controller.abort(new Error("cancelled by the user"));
          await new Promise(() => {}); // never finishes: only the abort can end the write
          return w;
        }]]),
        { signal: controller.signal },
      ),
      /cancelled by the user/,
    );
  } finally {
    await model.close();
  }
});

Deno.test("the first transformed tensor is asked for before the copy runs, not after it", async () => {
  const { dir: modelDir } = await writeTinyGpt2(fresh("model"), { layers: 3, hidden: 24 });
  const model = await openModelFolder(modelDir);
  try {
    const events: string[] = [];
    const transforms = new Map([0, 2].map((l) => [model.mlpOutputName(l), (w: Matrix) => {
      events.push(`asked ${l}`);
      return double(w);
    }]));
    await writeModelFolder(model, fresh("out"), transforms, {
      onInputHashed: () => events.push("input hashed"),
    });
    // The copy hashes the input as it goes and reports it at its end: a request after it would have waited for
    // the whole copy (a model's worth of reads, hashing and writes) before the caller could edit anything.
    assert.equal(events[0], "asked 0", events.join(", "));
    assert.ok(events.includes("input hashed") && events.includes("asked 2"), events.join(", "));
  } finally {
    await model.close();
  }
});
