import assert from "node:assert/strict";
import { createHarness } from "./harness.ts";

Deno.test("/metrics stays the same size under made-up methods and paths: they count as OTHER and unmatched", async () => {
  const h = await createHarness();
  try {
    const scrape = async () => await (await h.app.request("/metrics")).text();
    const hit = async (i: number) => {
      const method = `X${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await (await h.app.request(`/v1/nope-${i}`, { method })).body?.cancel();
      await (await h.app.request(`/v1/models/${crypto.randomUUID()}`, { method })).body?.cancel();
      await (await h.app.request(`/random/${i}`)).body?.cancel();
    };
    for (let i = 0; i < 5; i++) await hit(i);
    await scrape(); // the scrape's own series
    const before = await scrape();
    for (let i = 5; i < 300; i++) await hit(i);
    const after = await scrape();
    const series = (text: string) =>
      text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.slice(0, l.lastIndexOf(" ")));
    assert.deepEqual(series(after), series(before), "no new series");
    assert.match(after, /method="OTHER"/);
    assert.doesNotMatch(after, /method="X/);
    assert.doesNotMatch(after, /nope-|\/random\/\d/);
  } finally {
    await h.close();
  }
});
