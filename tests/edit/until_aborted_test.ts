import assert from "node:assert/strict";
import { untilAborted } from "../../shared/abort.ts";

Deno.test("untilAborted() settles with the work when the signal stays quiet", async () => {
  const controller = new AbortController();
  assert.equal(await untilAborted(Promise.resolve(7), controller.signal), 7);
  await assert.rejects(
    untilAborted(Promise.reject(new Error("work failed")), controller.signal),
    /work failed/,
  );
  assert.equal(await untilAborted(Promise.resolve(8), undefined), 8);
});

Deno.test("untilAborted() rejects with the signal's reason while the work never settles", async () => {
  const controller = new AbortController();
  const waiting = untilAborted(new Promise<never>(() => {}), controller.signal);
  controller.abort(new Error("stopped"));
  await assert.rejects(waiting, /stopped/);
});

Deno.test("untilAborted() on an already aborted signal rejects at once and swallows the work's late failure", async () => {
  const { promise, reject } = Promise.withResolvers<never>();
  await assert.rejects(untilAborted(promise, AbortSignal.abort(new Error("before"))), /before/);
  reject(new Error("late")); // no unhandled rejection: the test sanitizer would fail the test
  await Promise.resolve();
});
