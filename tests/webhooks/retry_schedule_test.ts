import assert from "node:assert/strict";
import { MAX_ATTEMPTS, parseRetryAfter, retryDelayMs } from "../../gpu-worker/webhooks/retry_schedule.ts";

const HOUR_MS = 3600_000;

function schedule(random: number): number[] {
  const delays: number[] = [];
  for (let attempt = 1;; attempt++) {
    const delay = retryDelayMs(attempt, random);
    if (delay === null) return delays;
    delays.push(delay);
  }
}

Deno.test("retryDelayMs gives MAX_ATTEMPTS - 1 waits that together span about a day at any jitter", () => {
  for (const random of [0, 0.5, 0.999999]) {
    const delays = schedule(random);
    assert.equal(delays.length, MAX_ATTEMPTS - 1);
    const total = delays.reduce((a, b) => a + b, 0);
    assert.ok(
      total >= 16 * HOUR_MS && total <= 30 * HOUR_MS,
      `total ${total / HOUR_MS} h at random=${random}`,
    );
  }
  assert.equal(retryDelayMs(MAX_ATTEMPTS, 0.5), null);
});

Deno.test("retryDelayMs grows exponentially from seconds and never exceeds the 6 h cap plus jitter", () => {
  const delays = schedule(0.5);
  assert.ok(delays[0] >= 10_000 && delays[0] <= 20_000, `first wait ${delays[0]} ms`);
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i] >= delays[i - 1], `wait ${i} shrank`);
  assert.ok(Math.max(...schedule(0.999999)) <= 6 * HOUR_MS * 1.25);
  assert.ok(delays[3] / delays[2] > 2.5, "consecutive early waits grow by the factor");
});

Deno.test("retryDelayMs jitter spreads one attempt's wait over ±25 %", () => {
  const low = retryDelayMs(3, 0)!;
  const mid = retryDelayMs(3, 0.5)!;
  const high = retryDelayMs(3, 0.999999)!;
  assert.ok(low < mid && mid < high);
  assert.ok(Math.abs(low / mid - 0.75) < 1e-6, `low/mid = ${low / mid}`);
  assert.ok(Math.abs(high / mid - 1.25) < 1e-5, `high/mid = ${high / mid}`);
});

Deno.test("a Retry-After longer than the backoff stretches the wait; a shorter one does not shorten it", () => {
  const backoff = retryDelayMs(1, 0.5)!;
  assert.equal(retryDelayMs(1, 0.5, 120), 120_000);
  assert.equal(retryDelayMs(1, 0.5, 1), backoff);
  assert.equal(retryDelayMs(1, 0.5, 10 * 24 * 3600), 6 * HOUR_MS);
});

Deno.test("retryDelayMs refuses attempt numbers below 1", () => {
  assert.throws(() => retryDelayMs(0, 0.5), RangeError);
  assert.throws(() => retryDelayMs(1.5, 0.5), RangeError);
});

Deno.test("parseRetryAfter reads delay seconds and HTTP dates", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("30", now), 30);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:02:00 GMT", now), 120);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});
