/**
 * Hostile input (issue 19): limits decided before work starts, so one tenant's upload cannot take the API down.
 * Each step puts its fixture exactly at a limit and one byte over.
 */
import assert from "node:assert/strict";
import { createHarness, type Harness, json, storedKeys } from "./harness.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";

function upload(h: Harness, query: string, body: BodyInit) {
  return h.app.request(`/v1/datasets?${query}`, { method: "POST", body, headers: h.keyA });
}

const pairLine = (preferredBytes: number) =>
  JSON.stringify({ preferred: "a".repeat(preferredBytes), rejected: "b" });

const targets = [
  { db: "PGlite", url: undefined, ignore: false },
  { db: "Postgres", url: testDatabaseUrl, ignore: noPostgres() },
];
for (const target of targets) {
  Deno.test({
    name:
      `hostile datasets (${target.db}): a JSONL line over maxLineBytes → 422 naming the line and the limit`,
    ignore: target.ignore,
    fn: async () => {
      const cap = 1000;
      const h = await createHarness({ config: { maxLineBytes: cap }, url: target.url });
      try {
        const atCap = pairLine(cap - pairLine(0).length);
        assert.equal(new TextEncoder().encode(atCap).length, cap);
        const ok = await upload(h, "name=at-cap", `${atCap}\n`);
        assert.equal(ok.status, 201, JSON.stringify(await json(ok.clone())));

        const before = await storedKeys(h);
        const over = pairLine(cap - pairLine(0).length + 1);
        const response = await upload(h, "name=over", `${atCap}\n${over}\n${atCap}\n`);
        const body = await json(response);
        assert.equal(response.status, 422, JSON.stringify(body));
        assert.equal(body.type, "/docs#problem-invalid-dataset");
        const errors = body.errors as { path: string; message: string }[];
        assert.deepEqual(errors.map((e) => e.path), ["line 2"]);
        assert.match(
          errors[0].message,
          /line 2 must be at most 1000 bytes \(PROFS_MAX_LINE_BYTES\): it has 1001/,
        );
        assert.deepEqual(await storedKeys(h), before, "nothing stored");

        // texts share the rule
        const texts = await upload(h, "name=t&kind=texts", JSON.stringify({ text: "x".repeat(2000) }) + "\n");
        assert.equal(texts.status, 422);
        assert.match(JSON.stringify(await json(texts)), /line 1 must be at most 1000 bytes/);
      } finally {
        await h.close();
      }
    },
  });
}
