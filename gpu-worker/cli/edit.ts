/**
 * `profs edit`: edit a model folder with ProFS from preference pairs or precomputed embeddings.
 */
import { parseArgs } from "node:util";
import { parseBackendName } from "../profs/select.ts";
import { EDIT_DEFAULTS, EDIT_LIMITS, type LayerRange } from "../../shared/contracts/edit_params.ts";
import { InputError } from "../../shared/errors.ts";
import { DEFAULT_SUBSPACE_PARAMS } from "../profs/backend.ts";
import { createLogger } from "../../shared/log.ts";
import { runEdit } from "../edit/pipeline.ts";

export const USAGE = `usage: profs edit --model DIR (--pairs FILE | --embeddings FILE) --out DIR [options]

  --model DIR              Hugging Face model folder (config.json, tokenizer.json, *.safetensors)
  --pairs FILE             preference pairs, JSONL (runs the model to embed them)
  --embeddings FILE        precomputed embeddings (safetensors 'preferred'/'rejected' [L, N, D])
  --out DIR                output folder (must not exist): edited model, README.md, patch.safetensors, report.json
  --layers FROM:TO         edited blocks, half-open (default ⌊5L/12⌋:L)
  --rank K                 directions removed per block (default ${EDIT_DEFAULTS.rank})
  --no-centering           do not project out the preferred embeddings' top direction first
  --max-pairs N            use at most N pairs, sampled with --seed (default ${EDIT_DEFAULTS.max_pairs})
  --seed S                 sampling and iteration seed (default ${EDIT_DEFAULTS.seed})
  --max-tokens T           tokens per text when embedding pairs (default ${EDIT_DEFAULTS.max_tokens})
  --backend B              auto | webgpu | cpu (default auto)
  --max-iterations N       cap on the subspace iteration's steps per block; hitting it fails the edit (default ${DEFAULT_SUBSPACE_PARAMS.maxIterations})
  --save-embeddings FILE   also write the embeddings computed from --pairs`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      pairs: { type: "string" },
      embeddings: { type: "string" },
      out: { type: "string" },
      layers: { type: "string" },
      rank: { type: "string" },
      "no-centering": { type: "boolean" },
      "max-pairs": { type: "string" },
      seed: { type: "string" },
      "max-tokens": { type: "string" },
      backend: { type: "string" },
      "max-iterations": { type: "string" },
      "save-embeddings": { type: "string" },
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
  const out = required(values.out, "--out");
  if ((values.pairs === undefined) === (values.embeddings === undefined)) {
    throw new InputError("Cannot edit as exactly one of '--pairs' and '--embeddings' must be given");
  }
  const outcome = await runEdit({
    modelDir: model,
    outDir: out,
    pairsFile: values.pairs,
    embeddingsFile: values.embeddings,
    layers: values.layers === undefined ? undefined : parseLayers(values.layers),
    rank: integer(values.rank, "--rank", 1, EDIT_LIMITS.rank),
    centering: !values["no-centering"],
    maxPairs: integer(values["max-pairs"], "--max-pairs", 1, EDIT_LIMITS.max_pairs),
    seed: integer(values.seed, "--seed", 0, EDIT_LIMITS.seed),
    maxTokens: integer(values["max-tokens"], "--max-tokens", 1, EDIT_LIMITS.max_tokens),
    backend: parseBackendName(values.backend ?? "auto"),
    maxIterations: integer(values["max-iterations"], "--max-iterations", 1, 1_000_000),
    saveEmbeddings: values["save-embeddings"],
    logger: createLogger(),
  }, {
    onProgress: progressPrinter(),
  });
  const r = outcome.report;
  console.log(
    `edited ${r.layers.length} block(s) ${r.params.layers.from}:${r.params.layers.to} of ${r.model.family} ` +
      `(rank ${r.params.rank}, ${r.source.pairsUsed} pairs, ${r.backend}) in ${
        r.seconds.total.toFixed(1)
      } s → ${outcome.outDir}`,
  );
  for (const layer of r.layers) {
    const tokens = layer.directions.map((d) =>
      d.positive.slice(0, 4).map((t) => JSON.stringify(t.token)).join(" ")
    );
    console.log(
      `  block ${layer.layer}: σ ${layer.singularValues.map((s) => s.toPrecision(4)).join(", ")}; ` +
        `${layer.iterations} iterations${layer.converged ? "" : " (NOT converged)"}; ${tokens.join(" | ")}`,
    );
  }
  for (const warning of r.warnings ?? []) console.error(`warning: ${warning}`);
}

/** "FROM:TO" → { from, to } (range checks against the model happen in the pipeline). */
export function parseLayers(value: string): LayerRange {
  const match = /^(\d+):(\d+)$/.exec(value.trim());
  const from = match ? Number(match[1]) : NaN;
  const to = match ? Number(match[2]) : NaN;
  if (!match || from >= to) {
    throw new InputError(
      `Cannot parse '--layers' as it must be FROM:TO with FROM < TO (e.g. 10:24): current value is '${value}'`,
    );
  }
  return { from, to };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new InputError(`Cannot edit as '${flag}' is required`);
  return value;
}

function integer(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError(
      `Cannot edit as '${flag}' must be an integer from ${min} to ${max}: current value is '${value}'`,
    );
  }
  return n;
}

/** One stderr line per stage change and every ~10% within a stage. */
function progressPrinter(): (stage: string, done: number, total: number) => void {
  let last = "";
  return (stage, done, total) => {
    const step = Math.max(1, Math.ceil(total / 10));
    const key = `${stage}:${Math.floor(done / step)}`;
    if (key === last && done !== total) return;
    last = key;
    console.error(`[${stage}] ${done}/${total}`);
  };
}
