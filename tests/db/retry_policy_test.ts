import assert from "node:assert/strict";
import { backoffMs, decideRetry } from "../../shared/db/index.ts";

const now = new Date("2030-01-01T00:00:00Z");
const policy = { baseMs: 1000, capMs: 8000, jitter: 0.5 };

Deno.test("decideRetry() retries while attempts remain and fails on the last one", () => {
  const input = { maxAttempts: 3, retryable: true, now, random: 0 };
  assert.deepEqual(decideRetry({ ...input, attempt: 1 }, policy), {
    action: "retry",
    delayMs: 1000,
    runAfter: new Date(now.getTime() + 1000),
  });
  assert.equal(decideRetry({ ...input, attempt: 2 }, policy).action, "retry");
  assert.deepEqual(decideRetry({ ...input, attempt: 3 }, policy), { action: "fail" });
  assert.deepEqual(decideRetry({ ...input, attempt: 1, maxAttempts: 1 }, policy), { action: "fail" });
});

Deno.test("decideRetry() fails a non-retryable error at once, attempts left or not", () => {
  assert.deepEqual(decideRetry({ attempt: 1, maxAttempts: 5, retryable: false, now, random: 0 }, policy), {
    action: "fail",
  });
});

Deno.test("backoffMs() doubles per attempt up to the cap, stretched by at most the jitter fraction", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 0, policy)), [
    1000,
    2000,
    4000,
    8000,
    8000,
    8000,
  ]);
  assert.equal(backoffMs(2, 0.999, policy), Math.round(2000 * (1 + 0.5 * 0.999)));
  assert.ok(backoffMs(10, 0.999, policy) < 8000 * 1.5);
});
