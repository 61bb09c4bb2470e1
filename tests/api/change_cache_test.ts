import assert from "node:assert/strict";
import { createChangeCache } from "../../api/change_cache.ts";

/** A cache on a hand-driven clock, and a loader that counts its calls. */
function setup(options: { maxAgeMs?: number; maxEntries?: number; enabled?: () => boolean } = {}) {
  let clock = 0;
  const cache = createChangeCache<string>({
    maxAgeMs: options.maxAgeMs ?? 1_000,
    maxEntries: options.maxEntries ?? 10,
    enabled: options.enabled,
    now: () => clock,
  });
  let loads = 0;
  const load = (value: string | undefined) => () => {
    loads++;
    return Promise.resolve(value);
  };
  return { cache, load, loads: () => loads, advance: (ms: number) => void (clock += ms) };
}

Deno.test("a loaded entry is served to its group until invalidated; another group misses", async () => {
  const { cache, load, loads } = setup();
  assert.equal(cache.get("a", "1"), undefined);
  assert.equal(await cache.load("a", "1", load("v1")), "v1");
  assert.equal(cache.get("a", "1"), "v1");
  assert.equal(cache.get("b", "1"), undefined, "another tenant never reads it");
  cache.invalidate("1");
  assert.equal(cache.get("a", "1"), undefined);
  assert.equal(await cache.load("a", "1", load("v2")), "v2");
  assert.equal(cache.get("a", "1"), "v2");
  assert.equal(loads(), 2);
});

Deno.test("a load its id's change overlapped is returned but not kept", async () => {
  const { cache, loads } = setup();
  let finish!: (value: string) => void;
  const loading = cache.load("a", "1", () => new Promise((resolve) => (finish = resolve)));
  cache.invalidate("1");
  finish("read before the change committed, maybe");
  assert.equal(await loading, "read before the change committed, maybe");
  assert.equal(cache.get("a", "1"), undefined, "the next read loads again");

  const other = cache.load("a", "2", () => new Promise((resolve) => (finish = resolve)));
  cache.invalidate("3");
  finish("unrelated change");
  await other;
  assert.equal(cache.get("a", "2"), "unrelated change", "another id's change does not matter");
  assert.equal(loads(), 0);
});

Deno.test("clear drops every entry and every running load's result", async () => {
  const { cache, load } = setup();
  await cache.load("a", "1", load("v1"));
  let finish!: (value: string) => void;
  const loading = cache.load("a", "2", () => new Promise((resolve) => (finish = resolve)));
  cache.clear();
  finish("v2");
  await loading;
  assert.equal(cache.get("a", "1"), undefined);
  assert.equal(cache.get("a", "2"), undefined);
});

Deno.test("not found (undefined) is never kept, so a job created later is found", async () => {
  const { cache, load, loads } = setup();
  assert.equal(await cache.load("a", "1", load(undefined)), undefined);
  assert.equal(cache.get("a", "1"), undefined);
  assert.equal(await cache.load("a", "1", load("created")), "created");
  assert.equal(loads(), 2);
});

Deno.test("entries expire after maxAgeMs however quiet the feed", async () => {
  const { cache, load, advance } = setup({ maxAgeMs: 100 });
  await cache.load("a", "1", load("v1"));
  advance(99);
  assert.equal(cache.get("a", "1"), "v1");
  advance(1);
  assert.equal(cache.get("a", "1"), undefined);
});

Deno.test("at maxEntries the oldest-loaded entry goes first", async () => {
  const { cache, load } = setup({ maxEntries: 2 });
  await cache.load("a", "1", load("v1"));
  await cache.load("a", "2", load("v2"));
  await cache.load("a", "1", load("v1 again")); // reloaded: now the newest
  await cache.load("a", "3", load("v3"));
  assert.equal(cache.get("a", "2"), undefined, "the oldest went");
  assert.equal(cache.get("a", "1"), "v1 again");
  assert.equal(cache.get("a", "3"), "v3");
});

Deno.test("while the feed is not listening nothing is served or kept", async () => {
  let listening = false;
  const { cache, load, loads } = setup({ enabled: () => listening });
  await cache.load("a", "1", load("v1"));
  assert.equal(cache.get("a", "1"), undefined);
  listening = true;
  assert.equal(cache.get("a", "1"), undefined, "what was loaded while not listening was not kept");

  // A load that began before the feed listened may have missed a change: not kept either.
  listening = false;
  let finish!: (value: string) => void;
  const loading = cache.load("a", "1", () => new Promise((resolve) => (finish = resolve)));
  listening = true;
  finish("v2");
  await loading;
  assert.equal(cache.get("a", "1"), undefined);

  await cache.load("a", "1", load("v3"));
  assert.equal(cache.get("a", "1"), "v3");
  listening = false;
  assert.equal(cache.get("a", "1"), undefined, "and once the feed stops, nothing is served");
  assert.equal(loads(), 2);
});
