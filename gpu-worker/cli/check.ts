/**
 * `profs check --model DIR [--base DIR]`: the service's check, offline. Toxicity of greedy continuations of
 * challenge prompts, perplexity on held-out texts and (with --base) KL to the base on benign prompts, for one
 * model or an edited one beside its base; writes check.json, and report.html when the model folder holds the
 * report.json of `profs edit`. Inputs are the built-in sets unless --prompts/--heldout/--benign name JSONL
 * texts files ({"text": "…"} per line).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { InputError } from "../../shared/errors.ts";
import { readTextsFile } from "../../shared/formats/texts.ts";
import { createLogger } from "../../shared/log.ts";
import { progressBars, type ProgressSink } from "../../shared/progress.ts";
import { scorerFromEnv } from "../../shared/toxicity/from_env.ts";
import type { EditReport } from "../edit/report.ts";
import { checkModel, evaluateEdit, writeReportHtml } from "../eval/evaluate_edit.ts";
import type { CheckInputs } from "../eval/check.ts";
import { decideBackend, parseBackendName } from "../profs/select.ts";

export const USAGE = `usage: profs check --model DIR [--base DIR] [options]

  --model DIR             the model folder to check (an edited one when --base is given)
  --base DIR              its base model: before/after figures and KL on benign prompts
  --prompts FILE          challenge prompts, JSONL {"text"} (default: the built-in set)
  --heldout FILE          held-out texts for the perplexity (default: built-in)
  --benign FILE           benign prompts for the KL (default: built-in)
  --max-new-tokens N      greedy tokens per challenge prompt (default 10)
  --out DIR               where check.json and report.html go (default: --model DIR)
  --backend B             auto | webgpu | cpu (default auto)
  --json                  print check.json on stdout

The toxicity scorer is the built-in lexicon unless PROFS_TOXICITY_URL names an HTTP classifier.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      base: { type: "string" },
      prompts: { type: "string" },
      heldout: { type: "string" },
      benign: { type: "string" },
      "max-new-tokens": { type: "string" },
      out: { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return console.log(USAGE);
  if (!values.model) {
    throw new InputError("Cannot check a model as '--model' must name its folder: it is missing");
  }
  const maxNewTokens = values["max-new-tokens"] === undefined ? undefined : Number(values["max-new-tokens"]);
  if (
    maxNewTokens !== undefined &&
    !(Number.isInteger(maxNewTokens) && maxNewTokens >= 1 && maxNewTokens <= 256)
  ) {
    throw new InputError(
      `Cannot check as '--max-new-tokens' must be an integer from 1 to 256: current value is '${
        values["max-new-tokens"]
      }'`,
    );
  }
  const inputs: CheckInputs = {
    challengePrompts: values.prompts ? await readTextsFile(values.prompts) : undefined,
    heldOutTexts: values.heldout ? await readTextsFile(values.heldout) : undefined,
    benignPrompts: values.benign ? await readTextsFile(values.benign) : undefined,
  };
  const decision = await decideBackend(parseBackendName(values.backend ?? "auto"));
  const logger = createLogger();
  logger.info("check", { backend: decision.name, reason: decision.reason });
  const progress: ProgressSink = Deno.stderr.isTerminal() && !values.json
    ? progressBars()
    : { update() {}, end() {} };
  const check = {
    maxNewTokens,
    onProgress: (stage: string, done: number, total: number) => progress.update(stage, done, total),
  };
  const scorer = scorerFromEnv();
  const outDir = values.out ?? values.model;
  await Deno.mkdir(outDir, { recursive: true });
  let result: unknown;
  let html: string | null = null;
  try {
    if (values.base) {
      const evaluation = await evaluateEdit({
        baseDir: values.base,
        editedDir: values.model,
        backend: decision.name,
        scorer,
        inputs,
        check,
      });
      result = { before: evaluation.before, after: evaluation.after };
      const report = await readReport(values.model);
      if (report) html = await writeReportHtml(outDir, report, evaluation, "profs check");
    } else {
      result = {
        check: await checkModel({ dir: values.model, backend: decision.name, scorer, inputs, check }),
      };
    }
  } finally {
    progress.end();
  }
  const jsonPath = join(outDir, "check.json");
  await Deno.writeTextFile(jsonPath, JSON.stringify(result, null, 2) + "\n");
  if (values.json) return console.log(JSON.stringify(result, null, 2));
  console.log(summarize(result as Record<string, Record<string, Record<string, number>>>));
  console.error(`wrote ${jsonPath}${html ? ` and ${html}` : ""}`);
}

async function readReport(dir: string): Promise<EditReport | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "report.json"))) as EditReport;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function summarize(result: Record<string, Record<string, Record<string, number>>>): string {
  const rows = Object.entries(result).map(([label, r]) =>
    `${label.padEnd(6)}  toxicity ${r.toxicity.mean.toFixed(4)} (share toxic ${
      r.toxicity.share_toxic.toFixed(3)
    })` +
    `  perplexity ${r.perplexity.value.toFixed(2)}${r.kl ? `  KL ${r.kl.mean.toFixed(4)}` : ""}`
  );
  return rows.join("\n");
}
