import assert from "node:assert/strict";
import { createSingleFlight } from "../../api/single_flight.ts";

Deno.test("single flight: concurrent reads of one key share one load; a later read loads again", async () => {
  const flight = createSingleFlight<number>();
  let loads = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const load = async () => {
    const n = ++loads;
    await gate;
    return n;
  };
  const together = [flight.run("a", load), flight.run("a", load), flight.run("a", load)];
  const other = flight.run("b", load);
  release();
  assert.deepEqual(await Promise.all(together), [1, 1, 1]);
  assert.equal(await other, 2);
  assert.equal(await flight.run("a", load), 3, "nothing is cached once the load settled");
});

Deno.test("single flight: a failed load fails every waiter and is not remembered", async () => {
  const flight = createSingleFlight<string>();
  const failing = () => Promise.reject(new Error("db down"));
  const results = await Promise.allSettled([flight.run("k", failing), flight.run("k", failing)]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  assert.equal(await flight.run("k", () => Promise.resolve("ok")), "ok");
});
