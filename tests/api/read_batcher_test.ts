import assert from "node:assert/strict";
import { createReadBatcher } from "../../api/read_batcher.ts";
import { waitFor } from "../helpers/wait_for.ts";

/** A loadMany that records its calls and answers `${group}:${id}` for ids not starting with "x". */
function recorder() {
  const calls: { group: string; ids: string[] }[] = [];
  const gates: (() => void)[] = [];
  let gated = false;
  const loadMany = async (group: string, ids: string[]) => {
    calls.push({ group, ids });
    if (gated) await new Promise<void>((release) => gates.push(release));
    return new Map(ids.filter((id) => !id.startsWith("x")).map((id) => [id, `${group}:${id}`]));
  };
  return {
    calls,
    loadMany,
    gate: () => gated = true,
    releaseAll: () => {
      gated = false;
      gates.splice(0).forEach((release) => release());
    },
  };
}

Deno.test("read batcher: reads asked together become one load per group; missing rows are undefined", async () => {
  const r = recorder();
  const batcher = createReadBatcher(r.loadMany);
  const reads = await Promise.all([
    batcher.read("t1", "a"),
    batcher.read("t1", "b"),
    batcher.read("t2", "a"),
    batcher.read("t1", "a"),
    batcher.read("t1", "x1"),
  ]);
  assert.deepEqual(reads, ["t1:a", "t1:b", "t2:a", "t1:a", undefined]);
  assert.deepEqual(r.calls, [{ group: "t1", ids: ["a", "b", "x1"] }, { group: "t2", ids: ["a"] }]);
});

Deno.test("read batcher: a read asked while its group's load runs waits for the next load", async () => {
  const r = recorder();
  const batcher = createReadBatcher(r.loadMany);
  r.gate();
  const first = batcher.read("t", "a");
  await waitFor(() => r.calls.length > 0, { intervalMs: 1, message: "the first load starting" });
  // The load of "a" has started: these must not be answered by it, even "a" itself.
  const later = [batcher.read("t", "a"), batcher.read("t", "b")];
  r.releaseAll();
  assert.equal(await first, "t:a");
  assert.deepEqual(await Promise.all(later), ["t:a", "t:b"]);
  assert.deepEqual(r.calls.map((c) => c.ids), [["a"], ["a", "b"]]);
  // Nothing is kept: the next read loads again.
  assert.equal(await batcher.read("t", "a"), "t:a");
  assert.equal(r.calls.length, 3);
});

Deno.test("read batcher: at most maxBatch ids per load", async () => {
  const r = recorder();
  const batcher = createReadBatcher(r.loadMany, { maxBatch: 2 });
  const ids = ["a", "b", "c", "d", "e"];
  assert.deepEqual(await Promise.all(ids.map((id) => batcher.read("t", id))), ids.map((id) => `t:${id}`));
  assert.deepEqual(r.calls.map((c) => c.ids), [["a", "b"], ["c", "d"], ["e"]]);
});

Deno.test("read batcher: a failed load fails its readers only, and the group keeps working", async () => {
  let fail = true;
  const batcher = createReadBatcher((_group: string, ids: string[]) =>
    fail
      ? Promise.reject(new Error("db down"))
      : Promise.resolve(new Map(ids.map((id) => [id, id.toUpperCase()])))
  );
  const failed = await Promise.allSettled([batcher.read("t", "a"), batcher.read("t", "b")]);
  assert.deepEqual(failed.map((f) => f.status), ["rejected", "rejected"]);
  assert.match(String((failed[0] as PromiseRejectedResult).reason), /db down/);
  fail = false;
  assert.equal(await batcher.read("t", "a"), "A");
});
