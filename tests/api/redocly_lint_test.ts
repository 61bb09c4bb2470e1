/**
 * `redocly lint` (its recommended rules) finds no error in /openapi.json. Warnings allowed today: no 4XX on
 * /healthz, /readyz and /metrics (they have none), and a licence without url/identifier (the repository has no
 * licence file yet).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHarness, json } from "./harness.ts";

Deno.test("redocly lint reports no errors on /openapi.json", async () => {
  const h = await createHarness();
  const dir = await Deno.makeTempDir({ prefix: "profs-redocly-" });
  try {
    const file = join(dir, "openapi.json");
    await Deno.writeTextFile(file, JSON.stringify(await json(await h.app.request("/openapi.json"))));
    const cli = fileURLToPath(new URL("../../node_modules/@redocly/cli/bin/cli.js", import.meta.url));
    const out = await new Deno.Command("node", {
      args: [cli, "lint", file, "--format=summary"],
      env: { REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.doesNotMatch(text, /^error\s/m, text);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await h.close();
  }
});
