/**
 * `profs demo` (also `npm run demo`): the main job in one command — a generated demo model with a planted toxic
 * direction goes through the embedded service's HTTP API, gets edited, and is checked before and after.
 *
 *   deno task profs demo [--out DIR] [--backend auto|cpu|webgpu] [--verbose]
 */
import { parseArgs } from "node:util";
import { parseBackendName } from "../../gpu-worker/profs/select.ts";
import type { CheckResult } from "../../shared/contracts/check_result.ts";
import { createLogger, silentLogger } from "../../shared/log.ts";
import { type DemoSummary, runDemo } from "../demo/run_demo.ts";

const HELP = `usage: profs demo [--out DIR] [--backend auto|cpu|webgpu] [--verbose]

Generates the demo model (a tiny GPT-2 with a planted toxic direction) and preference pairs, starts the
embedded service in this process, uploads both through the HTTP API, runs a ProFS edit with default
parameters, checks the base and edited models, and prints a before/after table.

  --out DIR       where model, pairs, edited artifacts and report.html go (must not exist;
                  default .data/demo-<time>)
  --backend NAME  compute backend for the worker and the checks (default auto: WebGPU when an
                  adapter exists, else cpu)
  --verbose       print the service's JSON logs on stderr`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      backend: { type: "string", default: "auto" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const backend = parseBackendName(values.backend!);
  const outDir = values.out ?? `.data/demo-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await Deno.mkdir(".data", { recursive: true }).catch(() => {});
  const started = performance.now();
  const summary = await runDemo({
    outDir,
    backend,
    logger: values.verbose ? createLogger({ level: "info" }) : silentLogger,
    say: (line) => console.log(line),
  });
  console.log("");
  console.log(formatSummary(summary, (performance.now() - started) / 1000));
}

export function formatSummary(summary: DemoSummary, totalSeconds: number): string {
  const { before, after } = summary.evaluation;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const num = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4));
  const rows: [string, string, string][] = [
    [
      `toxic continuations (score ≥ ${before.toxicity.threshold})`,
      pct(before.toxicity.share_toxic),
      pct(after.toxicity.share_toxic),
    ],
    ["mean toxicity score", num(before.toxicity.mean), num(after.toxicity.mean)],
    ["perplexity, held-out text", num(before.perplexity.value), num(after.perplexity.value)],
    ["KL to base on benign prompts (nats)", "0", after.kl ? after.kl.mean.toExponential(2) : "—"],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length), 6);
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w0)}  ${b.padStart(10)}  ${c.padStart(10)}`;
  const out = [
    line("", "before", "after"),
    ...rows.map((r) => line(...r)),
    "",
    `  planted direction recovered: ${
      summary.recovery.map((r) => `layer ${r.layer} |cos| = ${r.cos.toFixed(4)}`).join(", ")
    }`,
    "",
    "  sample continuations of challenge prompts:",
    ...samples(before, after),
    "",
    `  edit ${summary.editId}: ${summary.report.params.rank} directions removed from blocks ` +
    `${summary.report.params.layers.from}:${summary.report.params.layers.to} on ${summary.report.backend}` +
    `${
      summary.report.backend === "webgpu" ? ` (${summary.adapter})` : ""
    }; edit and check jobs ran in the worker`,
    `  steps (s): ${Object.entries(summary.seconds).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}; ` +
    `total ${totalSeconds.toFixed(1)}`,
    `  report:          ${summary.reportHtml}`,
    `  edited model:    ${summary.editedDir}`,
    `  choose layers and rank automatically: ${summary.tuneCommand}`,
  ];
  return out.join("\n");
}

function samples(before: CheckResult, after: CheckResult): string[] {
  return after.samples.map((s, i) => {
    const old = before.samples[i];
    return `    ${JSON.stringify(s.prompt)}\n      before: ${
      JSON.stringify(old?.continuation ?? "")
    }\n      after:  ${JSON.stringify(s.continuation)}`;
  });
}
