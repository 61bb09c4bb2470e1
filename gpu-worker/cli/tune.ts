/**
 * `profs tune`: search layer ranges, ranks and centering for the edit with the best trade of held-out preference
 * margin (or toxicity) against KL to the base model, then write it as `profs edit` would, plus tune.json and
 * report.html (Pareto chart, trial table). Trials are appended to OUT/trials.jsonl as they finish: running the
 * same command again resumes the search without repeating one.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EDIT_DEFAULTS, HOLDOUT } from "../../shared/contracts/edit_params.ts";
import { TUNE_LIMITS, TUNE_PARAM_DEFAULTS, tuneParamsFromFlags } from "../../shared/contracts/tunes.ts";
import { InputError, withInterrupts } from "../../shared/errors.ts";
import { readTextsFile } from "../../shared/formats/texts.ts";
import { createLogger } from "../../shared/log.ts";
import { progressBars, type ProgressSink } from "../../shared/progress.ts";
import { scorerFromEnv } from "../../shared/toxicity/from_env.ts";
import { parseBackendName } from "../profs/select.ts";
import { DEFAULT_GRID_STARTS } from "../tune/candidates.ts";
import { jsonlTrialStore, TRIALS_FILE } from "../tune/store.ts";
import { runTune, TUNE_FILE, type TuneDocument, type TuneProgress } from "../tune/tune.ts";

const LIMIT_DAYS = TUNE_LIMITS.seconds / 86_400;

export const USAGE = `usage: profs tune --model DIR --pairs FILE --out DIR [options]

  --model DIR              Hugging Face model folder
  --pairs FILE             preference pairs, JSONL; a seeded share is held out to measure the margin
  --out DIR                the chosen edit's files (as profs edit writes them), tune.json, report.html and
                           trials.jsonl; run again with the same arguments to resume an interrupted search
  --prompts FILE           challenge prompts, JSONL {"text"}: adds the toxicity of greedy continuations
                           (PROFS_TOXICITY_URL's scorer, else the lexicon) to every trial
  --benign FILE            benign texts, JSONL {"text"}, for KL to the base and perplexity (default: the
                           held-out preferred texts)
  --max-rank K             ranks 1..K are searched (default ${TUNE_PARAM_DEFAULTS.max_rank}, at most ${TUNE_LIMITS.maxRank})
  --layers-grid LIST       layer ranges: starts (end = L) or FROM:TO, comma-separated, at most ${TUNE_LIMITS.grid} (default:
                           every start on models up to ${DEFAULT_GRID_STARTS} blocks, else ${DEFAULT_GRID_STARTS} evenly spread)
  --centering on|off|both  centering settings searched (default ${TUNE_PARAM_DEFAULTS.centering})
  --trials N               stop after N trials (resumed ones count; at most ${TUNE_LIMITS.trials})
  --time S                 stop starting trials after S seconds of search (at most ${LIMIT_DAYS} days)
  --max-kl X               choose the largest gain with KL ≤ X nats (default: the smallest KL reaching ≥ 90%
                           of the best gain)
  --objective margin|toxicity   what the front trades against KL (default margin; toxicity needs --prompts)
  --holdout SHARE          share of the pairs held out (default ${EDIT_DEFAULTS.holdout}, at most ${HOLDOUT.maxShare})
  --max-pairs N, --seed S, --max-tokens T, --backend auto|webgpu|cpu, --lora-out DIR, --base-model NAME
                           as for profs edit, and passed to the chosen edit
  --overwrite              replace a finished tune's files in --out

The parameters and their limits are those of POST /v1/tunes and profs tunes create.
SIGINT/SIGTERM stop the search (recorded trials stay in trials.jsonl; exit code 130/143).`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      pairs: { type: "string" },
      out: { type: "string" },
      prompts: { type: "string" },
      benign: { type: "string" },
      "max-rank": { type: "string" },
      "layers-grid": { type: "string" },
      centering: { type: "string" },
      trials: { type: "string" },
      time: { type: "string" },
      "max-kl": { type: "string" },
      objective: { type: "string" },
      holdout: { type: "string" },
      "max-pairs": { type: "string" },
      seed: { type: "string" },
      "max-tokens": { type: "string" },
      backend: { type: "string" },
      "lora-out": { type: "string" },
      "base-model": { type: "string" },
      overwrite: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const model = required(values.model, "--model");
  const pairs = required(values.pairs, "--pairs");
  const out = required(values.out, "--out");
  // Checked before anything is read or written, by the rules and limits POST /v1/tunes uses.
  const params = tuneParamsFromFlags({
    max_rank: values["max-rank"],
    layers_grid: values["layers-grid"],
    centering: values.centering,
    trials: values.trials,
    time_seconds: values.time,
    max_kl: values["max-kl"],
    objective: values.objective,
    holdout: values.holdout,
    max_pairs: values["max-pairs"],
    seed: values.seed,
    max_tokens: values["max-tokens"],
    base_model: values["base-model"],
  });
  const benign = values.benign ? await readTextsFile(values.benign) : undefined;
  const prompts = values.prompts ? await readTextsFile(values.prompts) : undefined;
  const progress = progressPrinter();
  const { document, edit } = await withInterrupts((signal) =>
    runTune({
      modelDir: model,
      pairsFile: pairs,
      outDir: out,
      challengePrompts: prompts,
      benignPrompts: benign,
      benignTexts: benign,
      params,
      backend: parseBackendName(values.backend ?? "auto"),
      loraOut: values["lora-out"],
      overwrite: values.overwrite ?? false,
    }, {
      store: jsonlTrialStore(join(out, TRIALS_FILE)),
      scorer: prompts ? scorerFromEnv() : undefined,
      logger: createLogger(),
      signal,
      onProgress: progress.update,
    }).finally(progress.end)
  );
  console.log(summary(document, edit.outDir));
}

/** The choice, for a terminal. */
export function summary(doc: TuneDocument, outDir: string): string {
  const c = doc.chosen.trial;
  const fmt = (v: number) => Number(v.toPrecision(3)).toString();
  const lines = [
    `searched ${doc.trials.length} of ${doc.search.candidates} candidates (${
      fmt(doc.search.trialsPerSecond)
    } trials/s${doc.search.resumed ? `, ${doc.search.resumed} resumed` : ""})`,
    `chose layers ${c.layers.from}:${c.layers.to}, rank ${c.rank}, centering ${
      c.centering ? "on" : "off"
    }: ` +
    `margin gain ${fmt(c.margin.gain)} nats/token (held-out accuracy ${fmt(100 * doc.base.accuracy)}% → ${
      fmt(100 * c.margin.accuracy)
    }%), KL ${fmt(c.kl)} nats, perplexity ${fmt(doc.base.perplexity)} → ${fmt(c.perplexity)}`,
    `rule: ${doc.rule.text}`,
  ];
  const d = doc.trials.find((t) => t.key === doc.defaultKey);
  if (d) lines.push(`default parameters (${d.key}): margin gain ${fmt(d.margin.gain)}, KL ${fmt(d.kl)} nats`);
  for (const note of doc.notes.slice(0, -1)) lines.push(`note: ${note}`);
  lines.push(`→ ${outDir} (${TUNE_FILE}, report.html, the edit's files)`);
  return lines.join("\n");
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new InputError(`Cannot tune as '${flag}' is required`);
  return value;
}

/** Off a terminal: one stderr line per stage change and per trial (with trials/s). */
function progressPrinter(): { update(p: TuneProgress): void; end(): void } {
  const bars: ProgressSink | null = Deno.stderr.isTerminal() ? progressBars() : null;
  let last = "";
  return {
    end: () => bars?.end(),
    update(p: TuneProgress) {
      const stage = p.stage === "editing" ? `edit: ${p.editStage}` : p.stage;
      if (bars) return bars.update(stage, p.done, p.total);
      if (p.stage === "trials" && p.trial) {
        const t = p.trial;
        console.error(
          `[trial ${p.done}/${p.total}] ${t.key}: margin gain ${t.margin.gain.toPrecision(3)}, KL ${
            t.kl.toPrecision(3)
          } (${p.trialsPerSecond!.toPrecision(3)} trials/s)`,
        );
        return;
      }
      const step = Math.max(1, Math.ceil(p.total / 10));
      const key = `${stage}:${Math.floor(p.done / step)}`;
      if (key === last && p.done !== p.total) return;
      last = key;
      console.error(`[${stage}] ${p.done}/${p.total}`);
    },
  };
}
