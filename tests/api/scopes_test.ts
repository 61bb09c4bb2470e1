/** Every scope `keys create` accepts is enforced by its routes: a key with exactly that scope passes, others 403. */
import assert from "node:assert/strict";
import { createApiKey } from "../../api/auth/index.ts";
import { createHarness } from "./harness.ts";

Deno.test("scopes matrix: checks:* guard /v1/checks, triggers:* guard /v1/triggers (not edits:* or webhooks:*)", async () => {
  const h = await createHarness();
  try {
    const tenant = `scopes-${crypto.randomUUID().slice(0, 8)}`;
    const keyWith = async (...scopes: string[]) => {
      const { key } = await createApiKey(h.database.db, { tenant, scopes });
      return { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
    };
    const status = async (method: string, url: string, headers: Record<string, string>) => {
      const response = await h.app.request(url, {
        method,
        headers,
        body: method === "POST" ? "{}" : undefined,
      });
      await response.body?.cancel();
      return response.status;
    };
    const cases: [string, string, string[], number][] = [
      ["GET", "/v1/checks", ["checks:read"], 200],
      ["GET", "/v1/checks", ["edits:read"], 403],
      ["POST", "/v1/checks", ["checks:write"], 422], // past the scope check, the empty body is refused
      ["POST", "/v1/checks", ["edits:write"], 403],
      ["GET", "/v1/triggers", ["triggers:read"], 200],
      ["GET", "/v1/triggers", ["webhooks:read"], 403],
      ["POST", "/v1/triggers", ["triggers:write", "edits:write"], 422],
      ["POST", "/v1/triggers", ["webhooks:write", "edits:write"], 403],
      ["POST", "/v1/triggers", ["triggers:write"], 403], // a trigger starts edits: edits:write too
    ];
    for (const [method, url, scopes, expected] of cases) {
      assert.equal(
        await status(method, url, await keyWith(...scopes)),
        expected,
        `${method} ${url} with ${scopes}`,
      );
    }
  } finally {
    await h.close();
  }
});
