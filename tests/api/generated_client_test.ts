/**
 * A client generated from /openapi.json at test time (openapi-typescript + openapi-fetch, as outside users make
 * one) must type-check against a program that uses the API as the README does — `{"rank": 2}` alone as params,
 * the edit's `params.rank` read back as a number — and must talk to the app through the document's paths.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import createClient from "openapi-fetch";
import { createHarness, json } from "./harness.ts";

const PROGRAM = `
import createClient from "openapi-fetch";
import type { paths } from "./schema.d.ts";

export async function lifecycle(client: ReturnType<typeof createClient<paths>>, model_id: string, dataset_id: string) {
  const created = await client.POST("/v1/edits", {
    body: { model_id, dataset_id, params: { rank: 2 } },
    headers: { "idempotency-key": "k1" },
  });
  if (!created.data) return created.error?.detail;
  const rank: number = created.data.params.rank; // output: defaults applied, required
  const got = await client.GET("/v1/edits/{id}", { params: { path: { id: created.data.id } } });
  const events = await client.GET("/v1/edits/{id}/events", { params: { path: { id: created.data.id }, query: { after: 0 } } });
  const cancel = await client.POST("/v1/edits/{id}/cancel", { params: { path: { id: created.data.id } } });
  return [rank, got.data?.status, events.data, cancel.data?.status];
}
`;

Deno.test("a client generated from /openapi.json type-checks (deno check) and drives the API", async () => {
  const h = await createHarness();
  const dir = await Deno.makeTempDir({
    dir: fileURLToPath(new URL(".", import.meta.url)),
    prefix: ".generated-",
  });
  try {
    const doc = await json(await h.app.request("/openapi.json"));
    await Deno.writeTextFile(join(dir, "schema.d.ts"), astToString(await openapiTS(doc as never)));
    await Deno.writeTextFile(join(dir, "program.ts"), PROGRAM);
    const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
    const checked = await new Deno.Command(deno, {
      args: ["check", join(dir, "program.ts")],
      stderr: "piped",
    })
      .output();
    assert.equal(checked.code, 0, new TextDecoder().decode(checked.stderr));

    // At run time through openapi-fetch, against the app itself.
    // Untyped here (the typed use is the program above, checked by deno check): the paths' types exist only now.
    // deno-lint-ignore no-explicit-any
    const client = createClient<any>({
      baseUrl: "http://profs.test",
      headers: h.keyA,
      fetch: (request: Request) => Promise.resolve(h.app.request(request)),
    });
    const health = await client.GET("/healthz", {});
    assert.equal(health.response.status, 200);
    const missing = await client.POST("/v1/edits", {
      body: { model_id: "nope", dataset_id: "nope", params: { rank: 2 } },
    });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.response.headers.get("Content-Type"), "application/problem+json");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await h.close();
  }
});
