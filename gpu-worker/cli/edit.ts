/**
 * `profs edit`: edit a model folder with ProFS from preference pairs or precomputed embeddings.
 */
import { parseArgs } from "node:util";
import { parseBackendName } from "../profs/select.ts";
import { EDIT_DEFAULTS, editParamsFromFlags, HOLDOUT } from "../../shared/contracts/edit_params.ts";
import { InputError, Interrupted, withInterrupts } from "../../shared/errors.ts";
import { DEFAULT_SUBSPACE_PARAMS } from "../profs/backend.ts";
import { createLogger } from "../../shared/log.ts";
import { runEdit } from "../edit/pipeline.ts";
import { directionSides, type EditReport } from "../edit/report.ts";
import { progressBars, type ProgressSink } from "../../shared/progress.ts";
import { fetchHubModel } from "../../shared/model/hub.ts";

export const USAGE = `usage: profs edit --model DIR (--pairs FILE | --embeddings FILE) --out DIR [options]

  --model DIR              Hugging Face model folder (config.json, tokenizer.json, *.safetensors), or a Hub id
                           ORG/NAME[@REVISION] that is not a local folder: fetched through HF_ENDPOINT
                           (HF_TOKEN) into the Hub's cache layout under HF_HOME
  --pairs FILE             preference pairs, JSONL (runs the model to embed them)
  --embeddings FILE        precomputed embeddings (safetensors 'preferred'/'rejected' [L, N, D])
  --out DIR                output folder: edited model, README.md, patch.safetensors, report.json (must not
                           exist, unless --overwrite)
  --overwrite              replace an existing --out, only once the new output is complete
  --layers FROM:TO         edited blocks, half-open (default ⌊5L/12⌋:L)
  --rank K                 directions removed per block (default ${EDIT_DEFAULTS.rank})
  --no-centering           do not project out the preferred embeddings' top direction first
  --max-pairs N            use at most N pairs, sampled with --seed (default ${EDIT_DEFAULTS.max_pairs})
  --seed S                 sampling and iteration seed (default ${EDIT_DEFAULTS.seed})
  --max-tokens T           tokens per text when embedding pairs (default ${EDIT_DEFAULTS.max_tokens})
  --holdout SHARE          share of the sampled pairs held out from the subspace to measure the preference
                           margin of base and edited model (default ${EDIT_DEFAULTS.holdout}; at least ${HOLDOUT.min} pairs, none below
                           ${2 * HOLDOUT.min} usable pairs; 0: none)
  --backend B              auto | webgpu | cpu (default auto)
  --max-iterations N       cap on the subspace iteration's steps per block; hitting it fails the edit (default ${DEFAULT_SUBSPACE_PARAMS.maxIterations})
  --save-embeddings FILE   also write the embeddings computed from --pairs
  --lora-out DIR           also write the edit as a PEFT LoRA adapter folder (must not exist)
  --base-model NAME        the base model's hub id for the model card and adapter config, when neither the base
                           folder's README.md (base_model) nor its config.json (_name_or_path) names it

SIGINT/SIGTERM stop the edit and remove its partial output (exit code 130/143).`;

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
      holdout: { type: "string" },
      backend: { type: "string" },
      "max-iterations": { type: "string" },
      "save-embeddings": { type: "string" },
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
  const model = await localOrHub(required(values.model, "--model"));
  const out = required(values.out, "--out");
  if ((values.pairs === undefined) === (values.embeddings === undefined)) {
    throw new InputError("Cannot edit as exactly one of '--pairs' and '--embeddings' must be given");
  }
  const params = editParamsFromFlags({
    layers: values.layers,
    rank: values.rank,
    centering: !values["no-centering"],
    max_pairs: values["max-pairs"],
    seed: values.seed,
    max_tokens: values["max-tokens"],
    holdout: values.holdout,
    base_model: values["base-model"],
  });
  const progress = progressPrinter();
  const outcome = await withInterrupts((signal) =>
    runEdit({
      modelDir: model,
      outDir: out,
      pairsFile: values.pairs,
      embeddingsFile: values.embeddings,
      layers: params.layers,
      rank: params.rank,
      centering: params.centering,
      maxPairs: params.max_pairs,
      seed: params.seed,
      maxTokens: params.max_tokens,
      holdout: params.holdout,
      backend: parseBackendName(values.backend ?? "auto"),
      maxIterations: maxIterations(values["max-iterations"]),
      saveEmbeddings: values["save-embeddings"],
      loraOut: values["lora-out"],
      baseModel: params.base_model,
      overwrite: values.overwrite ?? false,
      logger: createLogger(),
    }, {
      onProgress: progress.update,
      signal,
    }).finally(progress.end).catch((error) => {
      if (error instanceof Interrupted) {
        throw new Interrupted(error.signal, `${error.message}: the partial output was removed`);
      }
      throw error;
    })
  );
  console.log(summary(outcome.report, outcome.outDir));
  for (const warning of outcome.report.warnings ?? []) console.error(`warning: ${warning}`);
}

/**
 * What the edit did, for a terminal: per block the spectrum and, per removed direction, the top tokens of both
 * sides — the toxic side (the one the rejected texts point to) first and marked, since a singular vector's sign
 * is arbitrary and its "+" side may well be the harmless one.
 */
export function summary(r: EditReport, outDir: string): string {
  const lines = [
    `edited ${r.layers.length} block(s) ${r.params.layers.from}:${r.params.layers.to} of ${r.model.family} ` +
    `(rank ${r.params.rank}, ${r.source.pairsUsed} pairs, ${r.backend}) in ${
      r.seconds.total.toFixed(1)
    } s → ${outDir}`,
  ];
  const held = r.heldOut;
  if (held?.base && held.edited) {
    lines.push(
      `  held-out margin (${held.edited.pairs} pairs, nats/token): ${held.base.meanMargin.toFixed(4)} → ` +
        `${held.edited.meanMargin.toFixed(4)}; preference accuracy ${percent(held.base.accuracy)} → ` +
        `${percent(held.edited.accuracy)}`,
    );
  }
  for (const layer of r.layers) {
    lines.push(
      `  block ${layer.layer}: σ ${layer.singularValues.map((s) => s.toPrecision(4)).join(", ")}; ` +
        `${layer.iterations} iterations${layer.converged ? "" : " (NOT converged)"}`,
    );
    layer.directions.forEach((d, j) => {
      const sides = directionSides(d).map((side) =>
        `${side.toxic ? "toxic " : ""}${side.sign} ${
          side.tokens.slice(0, 4).map((t) => JSON.stringify(t.token)).join(" ")
        }`
      );
      lines.push(`    v${j + 1}: ${sides.join("  |  ")}`);
    });
  }
  return lines.join("\n");
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new InputError(`Cannot edit as '${flag}' is required`);
  return value;
}

/** `--max-iterations`: not an edit parameter of the API (the service keeps the default), so parsed here. */
function maxIterations(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > 1_000_000) {
    throw new InputError(
      `Cannot edit as '--max-iterations' must be an integer from 1 to 1000000: current value is '${value}'`,
    );
  }
  return n;
}

/** A local folder as given; else an `org/name[@revision]` Hub id, fetched (or found in the cache). */
async function localOrHub(model: string): Promise<string> {
  if (await Deno.stat(model).then(() => true, () => false)) return model;
  const hub = /^([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$/.exec(model);
  if (!hub) return model; // not a Hub id: the folder check names the missing folder
  const progress = progressPrinter();
  try {
    return await fetchHubModel(hub[1], hub[2] ?? "main", {
      onProgress: (file, done, total) => progress.update(file, done, total),
      log: (line) => console.error(line),
    });
  } finally {
    progress.end();
  }
}

/**
 * On a terminal, one bar per stage with rate and ETA (shared/progress.ts); otherwise one stderr line per stage
 * change and every ~10% within a stage, so logs stay short.
 */
function progressPrinter(): ProgressSink {
  if (Deno.stderr.isTerminal()) return progressBars();
  let last = "";
  return {
    end() {},
    update: (stage, done, total) => {
      const step = Math.max(1, Math.ceil(total / 10));
      const key = `${stage}:${Math.floor(done / step)}`;
      if (key === last && done !== total) return;
      last = key;
      console.error(`[${stage}] ${done}/${total}`);
    },
  };
}

function percent(share: number): string {
  return `${(100 * share).toFixed(1)}%`;
}
