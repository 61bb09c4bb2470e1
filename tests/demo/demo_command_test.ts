/**
 * `profs demo` end to end, through the embedded service's HTTP API (real API, PGlite, in-process worker running
 * the edit and the check jobs) on the CPU backend: the printed summary shows the edit working, and the report and
 * artifacts are where it says.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatSummary, run } from "../../infra/cli/demo.ts";
import { runDemo } from "../../infra/demo/run_demo.ts";
import { silentLogger } from "../../shared/log.ts";

Deno.test({
  name:
    "demo: upload, edit and check through the API cut toxic continuations and recover the planted direction",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "profs-demo-cmd-" });
    try {
      const lines: string[] = [];
      const summary = await runDemo({
        outDir: join(work, "demo"),
        backend: "cpu",
        logger: silentLogger,
        say: (line) => lines.push(line),
      });
      const { before, after } = summary.evaluation;
      assert.ok(
        before.toxicity.share_toxic >= 0.9 && after.toxicity.share_toxic <= before.toxicity.share_toxic / 2,
      );
      assert.ok(after.kl !== null && after.kl.mean <= 0.01);
      assert.equal(summary.recovery.length, 3);
      for (const r of summary.recovery) assert.ok(r.cos >= 0.95, `layer ${r.layer}: ${r.cos}`);
      const files = [...Deno.readDirSync(summary.editedDir)].map((e) => e.name).sort();
      for (
        const name of ["config.json", "model.safetensors", "patch.safetensors", "report.json"]
      ) {
        assert.ok(files.includes(name), `${name} in ${files}`);
      }
      assert.match(await Deno.readTextFile(summary.reportHtml), /Toxicity of challenge continuations/);
      assert.ok(lines.some((l) => l.includes("through the HTTP API")), lines.join("\n"));
      const text = formatSummary(summary, 1);
      assert.match(text, /toxic continuations \(score ≥ 0\.5\)\s+100\.0%\s+0\.0%/);
      // The held-out pairs (19 of the demo's 96) separate better after the edit, as the table says.
      const margin = /preference margin, 19 held-out pairs \(nats\/token\)\s+(-?[\d.]+)\s+(-?[\d.]+)/.exec(
        text,
      );
      assert.ok(margin && Number(margin[2]) > Number(margin[1]), text);
      assert.match(text, /preference accuracy, held-out pairs\s+[\d.]+%\s+100\.0%/);
      assert.ok(text.includes(summary.reportHtml));
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test("demo: a bad flag is a parse error, an existing --out is refused before any work", async () => {
  await assert.rejects(
    run(["--bogus"]),
    (e: Error & { code?: string }) => e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION",
  );
  await assert.rejects(run(["--backend", "tpu"]), /'--backend' must be auto, cpu or webgpu/);
  const existing = await Deno.makeTempDir();
  try {
    await assert.rejects(run(["--out", existing, "--backend", "cpu"]), /--out/);
  } finally {
    await Deno.remove(existing, { recursive: true });
  }
});
