/**
 * `redocly lint` (its recommended rules) finds no error in /openapi.json, and no warning but the one that is
 * true of the service: /healthz, /readyz and /metrics have no 4XX answer (they take no input and no key).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHarness, json } from "./harness.ts";

const EXPECTED_WARNINGS = ["/healthz", "/readyz", "/metrics"].map((path) =>
  `operation-4xx-response #/paths/~1${path.slice(1)}/get/responses`
);

Deno.test("redocly lint reports no errors on /openapi.json", async () => {
  const h = await createHarness();
  const dir = await Deno.makeTempDir({ prefix: "profs-redocly-" });
  try {
    const file = join(dir, "openapi.json");
    await Deno.writeTextFile(file, JSON.stringify(await json(await h.app.request("/openapi.json"))));
    const cli = fileURLToPath(new URL("../../node_modules/@redocly/cli/bin/cli.js", import.meta.url));
    const out = await new Deno.Command("node", {
      args: [cli, "lint", file, "--format=json"],
      env: { REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    const report = JSON.parse(text) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
    };
    const found = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
    assert.deepEqual(report.problems.filter((p) => p.severity === "error"), [], found.join("\n"));
    assert.equal(report.totals.errors, 0);
    assert.deepEqual(found.sort(), EXPECTED_WARNINGS.sort(), "the warnings are the known ones");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await h.close();
  }
});
