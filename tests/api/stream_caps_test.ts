/**
 * Per-tenant caps on open event streams (api/stream_limiter.ts): beyond the cap a 429 problem+json with
 * Retry-After; another tenant's streams and polls are served while one tenant is at its cap; a closed stream
 * gives its slot back.
 */
import assert from "node:assert/strict";
import { createStreamLimiter } from "../../api/stream_limiter.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { createHarness, type Harness, json } from "./harness.ts";

const CAP = 8;

async function openStream(h: Harness, key: Record<string, string>, jobId: string): Promise<Response> {
  const response = await h.app.request(`/v1/edits/${jobId}/events`, {
    headers: { ...key, Accept: "text/event-stream" },
  });
  if (response.status === 200) {
    // The first event (queued) has arrived: the stream is open and holds its slot.
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.match(new TextDecoder().decode(first.value), /event: queued/);
    reader.releaseLock();
  }
  return response;
}

Deno.test("one tenant's 300 event streams: CAP open, the rest 429 with Retry-After; the other tenant is served meanwhile", async () => {
  const h = await createHarness({ config: { maxStreamsPerTenant: CAP } });
  const open: Response[] = [];
  try {
    const jobA = await h.queue.enqueue(h.database.db, { tenantId: h.tenantA, kind: "edit", params: {} });
    const jobB = await h.queue.enqueue(h.database.db, { tenantId: h.tenantB, kind: "edit", params: {} });

    const attempts = await Promise.all(Array.from({ length: 300 }, () => openStream(h, h.keyA, jobA.id)));
    const accepted = attempts.filter((r) => r.status === 200);
    const refused = attempts.filter((r) => r.status === 429);
    open.push(...accepted);
    assert.equal(accepted.length, CAP);
    assert.equal(refused.length, 300 - CAP);
    const problem = await json(refused[0]);
    assert.equal(refused[0].headers.get("Content-Type"), "application/problem+json");
    assert.equal(refused[0].headers.get("Retry-After"), "5");
    assert.equal(problem.type, "/docs#problem-too-many-requests");
    assert.match(String(problem.detail), new RegExp(`at most ${CAP} open streams`));
    await Promise.all(refused.slice(1).map((r) => r.body?.cancel()));

    // Tenant A is at its cap: B's stream opens and B's polls are answered, every one.
    const streamB = await openStream(h, h.keyB, jobB.id);
    assert.equal(streamB.status, 200);
    open.push(streamB);
    const polls = await Promise.all(
      Array.from({ length: 50 }, () => h.app.request(`/v1/edits/${jobB.id}`, { headers: h.keyB })),
    );
    assert.deepEqual(new Set(polls.map((r) => r.status)), new Set([200]));
    // A's plain JSON reads are not streams: still served at the cap.
    const pollA = await h.app.request(`/v1/edits/${jobA.id}/events`, { headers: h.keyA });
    assert.equal(pollA.status, 200);
    await pollA.body?.cancel();

    // A client that goes away gives its slot back.
    await open.shift()!.body!.cancel();
    await waitFor(async () => {
      const again = await openStream(h, h.keyA, jobA.id);
      if (again.status === 200) open.push(again);
      else await again.body?.cancel();
      return again.status === 200;
    }, { deadline: 10_000 });
  } finally {
    await Promise.all(open.map((r) => r.body?.cancel().catch(() => {})));
    await h.close();
  }
});

Deno.test("the stream limiter counts per tenant and each release once", () => {
  const limiter = createStreamLimiter(2);
  const a1 = limiter.open("a", "s");
  limiter.open("a", "s");
  assert.throws(() => limiter.open("a", "s"), /at most 2 open streams/);
  const b = limiter.open("b", "s");
  a1();
  a1();
  assert.equal(limiter.held("a"), 1);
  limiter.open("a", "s");
  assert.throws(() => limiter.open("a", "s"));
  b();
  assert.equal(limiter.held("b"), 0);
});
