/**
 * A full disk: uploads answer 507 problem+json, the partial file is removed, and the service keeps serving (a
 * small upload after it succeeds). The blob store sits on a 2 MiB tmpfs; skipped, saying so, where this process
 * may not mount one (it needs root).
 */
import assert from "node:assert/strict";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { pairsJsonl } from "./fixtures.ts";
import { createHarness, json } from "./harness.ts";

async function mountTmpfs(): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "profs-full-disk-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  if (mounted?.success) return dir;
  await Deno.remove(dir);
  return null;
}

const tmpfs = Deno.build.os === "linux" ? await mountTmpfs() : null;
if (!tmpfs) {
  console.warn(
    "%c[skip] cannot mount a tmpfs (needs root on Linux): full-disk test skipped",
    "color: yellow",
  );
}

Deno.test({
  name: "an upload onto a full disk → 507 problem+json, nothing left behind, the service keeps serving",
  ignore: !tmpfs,
  async fn() {
    const blobs = await createLocalBlobStore(tmpfs!);
    const h = await createHarness({ blobs });
    try {
      // 3 MiB of valid pairs onto a 2 MiB disk: the write fails part way.
      const lines = pairsJsonl(1).trim();
      const big = `${lines}\n`.repeat(Math.ceil(3 * 1024 ** 2 / (lines.length + 1)));
      const full = await h.app.request("/v1/datasets?name=big", {
        method: "POST",
        headers: h.keyA,
        body: big,
      });
      const body = await json(full);
      assert.equal(full.status, 507, JSON.stringify(body));
      assert.equal(full.headers.get("Content-Type"), "application/problem+json");
      assert.equal(body.type, "/docs#problem-insufficient-storage");
      assert(!String(body.detail).includes(tmpfs!), "no server path in the answer");
      assert.deepEqual(Array.from(Deno.readDirSync(`${tmpfs}/.tmp`)), [], "the partial file is removed");

      const model = await json(
        await h.app.request("/v1/models", {
          method: "POST",
          headers: { ...h.keyA, "Content-Type": "application/json" },
          body: JSON.stringify({ name: "m" }),
        }),
      );
      const weights = await h.app.request(`/v1/models/${model.id}/files/weights.bin`, {
        method: "PUT",
        headers: h.keyA,
        body: new Uint8Array(3 * 1024 ** 2),
      });
      assert.equal(weights.status, 507, await weights.text());
      assert.deepEqual(Array.from(Deno.readDirSync(`${tmpfs}/.tmp`)), []);
      const files = await json(await h.app.request(`/v1/models/${model.id}`, { headers: h.keyA }));
      assert.deepEqual(files.files, [], "no file recorded");

      assert.equal((await h.app.request("/healthz")).status, 200);
      const small = await h.app.request("/v1/datasets?name=small", {
        method: "POST",
        headers: h.keyA,
        body: pairsJsonl(4),
      });
      assert.equal(small.status, 201, "the freed space serves the next upload");
    } finally {
      await h.close();
      await new Deno.Command("umount", { args: [tmpfs!] }).output();
      await Deno.remove(tmpfs!, { recursive: true });
    }
  },
});
