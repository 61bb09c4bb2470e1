/**
 * The tune job engine: search layer ranges × ranks 1..k_max × centering for the edit that best trades the
 * held-out preference margin (or toxicity) against KL to the base model, then write the chosen edit with the
 * normal `runEdit` — so its files equal a plain `profs edit` with the chosen parameters — plus `tune.json` (every
 * trial, the Pareto front, the chosen point and the rule) and `report.html` (a Pareto chart and the trial table).
 *
 * Stages: the data (the same sample and held-out split as runEdit's, gpu-worker/edit/holdout.ts), the model run
 * once over the subspace pairs (embeddings), one rank-k_max decomposition per block and centering setting
 * (subspaces.ts), the base model measured once, then one trial per candidate in the seeded order, each the base
 * model with the candidate's correction applied inside the forward pass (lm/correction.ts): no model is written
 * until the choice. Trials go to the `TrialStore` as they finish; a resumed search skips every recorded trial.
 */
import { join } from "node:path";
import {
  checkRankForHiddenSize,
  EDIT_DEFAULTS,
  type LayerRange,
} from "../../shared/contracts/edit_params.ts";
import {
  layerRangesOfGrid,
  parseTuneParams,
  type TuneParams,
  type TuneParamsInput,
} from "../../shared/contracts/tunes.ts";
import { InputError } from "../../shared/errors.ts";
import { type Logger, silentLogger } from "../../shared/log.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import type { ToxicityScorer } from "../../shared/toxicity/scorer.ts";
import { untilAborted } from "../../shared/abort.ts";
import { layerSource, readEditData } from "../edit/edit_data.ts";
import { type EditOutcome, type EditStage, runEdit } from "../edit/pipeline.ts";
import { openRunner, REPORT_HTML_FILE } from "../eval/evaluate_edit.ts";
import { DEFAULT_SUBSPACE_PARAMS, type ProfsBackend } from "../profs/backend.ts";
import { type BackendName, openBackend } from "../profs/select.ts";
import { renderReportHtml } from "../report/html.ts";
import { tuneSections } from "../report/tune_html.ts";
import { type Candidate, candidateKey, candidates, defaultRanges } from "./candidates.ts";
import { chooseTrial, GAIN_SHARE, paretoFront, type Scored } from "./choice.ts";
import { memoryTrialStore, type TrialStore } from "./store.ts";
import { nestedSubspaces } from "./subspaces.ts";
import {
  compare,
  measure,
  type Measured,
  type ObjectiveInputs,
  type Pair,
  type TrialRecord,
} from "./trial.ts";

export type { TrialRecord, TrialStore };

export const TUNE_FILE = "tune.json";
export const TUNE_FORMAT = "profs-tune/1";

export interface TuneInput {
  modelDir: string;
  pairsFile: string;
  /** The edit's files, tune.json and report.html land here (it may hold a trial store's file of this search). */
  outDir: string;
  /** Challenge prompts: the toxicity objective runs only when they are given (and a scorer is). */
  challengePrompts?: string[];
  /** Prompts for KL to the base (default: the held-out preferred texts). */
  benignPrompts?: string[];
  /** Texts for perplexity (default: the held-out preferred texts). */
  benignTexts?: string[];
  /**
   * The search's settings, as the API takes them (ranks 1..max_rank, layers_grid — default defaultRanges(L) —,
   * centering, the trials or time budget, max_kl, objective, holdout, max_pairs, seed, max_tokens, base_model):
   * checked here by parseTuneParams, with the schema and limits of POST /v1/tunes and the CLIs.
   */
  params: TuneParamsInput;
  backend?: BackendName;
  /** The weights' sha256 when the caller knows it (the worker); otherwise hashed once for the fingerprint. */
  modelSha256?: string;
  /** Replace a finished tune's files in outDir. */
  overwrite?: boolean;
  loraOut?: string;
}

export type TuneStage = "loading_model" | "embedding" | "svd" | "baseline" | "trials" | "editing";

export interface TuneProgress {
  stage: TuneStage;
  done: number;
  total: number;
  /** Trials finished per second in this run (stage "trials"). */
  trialsPerSecond?: number;
  /** The trial that just finished (stage "trials"). */
  trial?: TrialRecord;
  /** runEdit's own stage (stage "editing"). */
  editStage?: EditStage;
}

export interface TuneOptions {
  onProgress?: (progress: TuneProgress) => void;
  signal?: AbortSignal;
  /** Where trials are recorded as they finish (default: memory, nothing survives the process). */
  store?: TrialStore;
  /** Needed for the toxicity objective (with challenge prompts). */
  scorer?: ToxicityScorer;
  logger?: Logger;
}

/** What tune.json holds. */
export interface TuneDocument {
  format: typeof TUNE_FORMAT;
  fingerprint: string;
  objective: "margin" | "toxicity";
  inputs: {
    pairs: { sha256: string; subspacePairs: number; heldOutPairs: number; holdout: number };
    benign: { prompts: number; texts: number; source: string };
    challengePrompts: number | null;
    scorer: string | null;
    maxTokens: number;
    seed: number;
    maxPairs: number;
  };
  search: {
    maxRank: number;
    layerRanges: LayerRange[];
    centering: boolean[];
    candidates: number;
    budget: { trials: number | null; seconds: number | null };
    /** Trials recorded before this run (a resumed search) and run now. */
    resumed: number;
    ran: number;
    seconds: number;
    trialsPerSecond: number;
  };
  base: { margin: number; accuracy: number; perplexity: number; toxicity: number | null };
  trials: TrialRecord[];
  /** Keys of the Pareto front, by increasing KL. */
  front: string[];
  chosen: { key: string; layers: LayerRange; rank: number; centering: boolean; trial: TrialRecord };
  rule: { text: string; gainShare: number; maxKl: number | null; threshold: { gain?: number; kl?: number } };
  /** The default edit's trial (⌊5L/12⌋:L, rank 2, centering on) when it was searched, for comparison. */
  defaultKey: string;
  notes: string[];
}

export interface TuneResult {
  document: TuneDocument;
  edit: EditOutcome;
}

const EDIT_STAGING = ".edit";

export async function runTune(input: TuneInput, options: TuneOptions = {}): Promise<TuneResult> {
  const params = parseTuneParams(input.params);
  if (params.objective === "toxicity" && !(input.challengePrompts?.length && options.scorer)) {
    throw new InputError(
      "Cannot tune for toxicity as it needs challenge prompts ('--prompts') and a toxicity scorer",
    );
  }
  // Created once the inputs are checked; removed again if this run fails before recording anything in it.
  const createdOut = await prepareOutDir(input.outDir, input.overwrite ?? false);
  try {
    return await search(input, options, params);
  } catch (error) {
    if (createdOut) await Deno.remove(input.outDir).catch(() => {}); // only if still empty
    throw error;
  }
}

async function search(
  input: TuneInput,
  options: TuneOptions,
  params: TuneParams,
): Promise<TuneResult> {
  const started = performance.now();
  const log = options.logger ?? silentLogger;
  const { signal, onProgress } = options;
  const store = options.store ?? memoryTrialStore();
  const { max_rank: maxRank, seed, max_pairs: maxPairs, max_tokens: maxTokens, holdout, objective } = params;
  const centering = params.centering === "both" ? [true, false] : [params.centering === "on"];
  onProgress?.({ stage: "loading_model", done: 0, total: 1 });
  const data = await readEditData({ pairsFile: input.pairsFile, rank: maxRank, maxPairs, seed, holdout });
  if (data.heldOut.length === 0) {
    throw new InputError(
      `Cannot tune as it measures each candidate on held-out pairs: ${
        data.split.skipped ?? "'holdout' is 0, so none are held out"
      }`,
    );
  }
  const model = await openModelFolder(input.modelDir);
  let backend: ProfsBackend | undefined;
  let runner: Awaited<ReturnType<typeof openRunner>> | undefined;
  try {
    const L = model.numLayers;
    const ranges = params.layers_grid ? layerRangesOfGrid(params.layers_grid, L) : defaultRanges(L);
    checkRankForHiddenSize(maxRank, model.hiddenSize, centering.includes(true));
    const heldOut: Pair[] = data.heldOut;
    const benignDefault = "the held-out preferred texts (no benign set was given)";
    const inputs: ObjectiveInputs = {
      heldOut,
      benignPrompts: nonEmpty(input.benignPrompts, "benign prompts") ?? heldOut.map((p) => p.preferred),
      benignTexts: nonEmpty(input.benignTexts, "benign texts") ?? heldOut.map((p) => p.preferred),
      challengePrompts: nonEmpty(input.challengePrompts, "challenge prompts") ?? null,
      scorer: options.scorer ?? null,
      maxTokens,
    };
    const modelSha256 = input.modelSha256 ?? await untilAborted(model.sha256(), signal);
    const fingerprint = await sha256Hex(JSON.stringify({
      model: modelSha256,
      pairs: data.source.sha256,
      seed,
      maxPairs,
      maxTokens,
      holdout,
      benignPrompts: inputs.benignPrompts,
      benignTexts: inputs.benignTexts,
      challengePrompts: inputs.challengePrompts,
      scorer: inputs.scorer?.name ?? null,
    }));
    const space = candidates({ ranges, maxRank, centering, seed });
    const wanted = new Set(space.map(candidateKey));
    const recorded = await store.load();
    const foreign = recorded.find((t) => t.fingerprint !== fingerprint);
    if (foreign) {
      throw new InputError(
        `Cannot resume the search as its trial store holds trials of another search (other model, pairs, ` +
          `prompts or settings: trial ${foreign.key}); use a new output folder`,
      );
    }
    const done = new Map(recorded.filter((t) => wanted.has(t.key)).map((t) => [t.key, t]));
    const resumed = done.size;
    log.info("tune started", { candidates: space.length, resumed, ranges: ranges.length, maxRank });

    const opened = await openBackend(input.backend ?? "auto");
    backend = opened.backend;
    onProgress?.({ stage: "loading_model", done: 1, total: 1 });

    const { source } = await untilAborted(
      layerSource(data, model, {
        maxTokens,
        backend: backend.name,
        signal,
        onProgress: (_, d, t) => onProgress?.({ stage: "embedding", done: d, total: t }),
      }),
      signal,
    );
    const layers = [...new Set(ranges.flatMap((r) => range(r.from, r.to)))].sort((a, b) => a - b);
    const subspaces = await nestedSubspaces(backend, source, {
      layers,
      centering,
      params: {
        rank: maxRank,
        tolerance: DEFAULT_SUBSPACE_PARAMS.tolerance,
        maxIterations: DEFAULT_SUBSPACE_PARAMS.maxIterations,
        seed,
      },
      signal,
      onProgress: (d, t) => onProgress?.({ stage: "svd", done: d, total: t }),
    });

    runner = await openRunner(input.modelDir, backend.name);
    onProgress?.({ stage: "baseline", done: 0, total: 1 });
    const base: Measured = await measure(runner, inputs, signal);
    onProgress?.({ stage: "baseline", done: 1, total: 1 });

    const budget = Math.min(space.length, params.trials ?? Infinity);
    const searchStarted = performance.now();
    let ran = 0;
    for (const candidate of space) {
      if (done.size >= budget) break;
      // A time budget stops starting trials once spent, after at least one (a choice needs a trial).
      const spent = (performance.now() - searchStarted) / 1000;
      if (params.time_seconds !== undefined && done.size > 0 && spent >= params.time_seconds) break;
      const key = candidateKey(candidate);
      if (done.has(key)) continue;
      signal?.throwIfAborted();
      const trialStarted = performance.now();
      runner.setCorrection({
        layers: range(candidate.layers.from, candidate.layers.to).map((layer) => ({
          layer,
          basis: subspaces.basis(layer, candidate.centering, candidate.rank),
        })),
      });
      const measured = await measure(runner, inputs, signal);
      const trial: TrialRecord = {
        key,
        fingerprint,
        layers: candidate.layers,
        rank: candidate.rank,
        centering: candidate.centering,
        ...compare(measured, base, runner.config.vocabSize),
        seconds: (performance.now() - trialStarted) / 1000,
        index: done.size,
      };
      await store.append(trial);
      done.set(key, trial);
      ran++;
      const elapsed = (performance.now() - searchStarted) / 1000;
      onProgress?.({
        stage: "trials",
        done: done.size,
        total: budget,
        trialsPerSecond: ran / Math.max(elapsed, 1e-9),
        trial,
      });
    }
    runner.setCorrection(null);
    const searchSeconds = (performance.now() - searchStarted) / 1000;
    runner.dispose();
    runner = undefined;
    backend.dispose();
    backend = undefined;

    const trials = [...done.values()].sort((a, b) => a.index - b.index);
    const scored = trials.map((t) => scoredOf(t, objective));
    const choice = chooseTrial(scored, { maxKl: params.max_kl, objective: gainName(objective) });
    const chosen = done.get(choice.key)!;
    const front = paretoFront(scored).map((s) => s.key);
    log.info("tune chose", {
      key: chosen.key,
      kl: chosen.kl,
      gain: chosen.margin.gain,
      trials: trials.length,
    });

    // The chosen edit, as a plain `profs edit` with these parameters writes it.
    const staging = join(input.outDir, EDIT_STAGING);
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    const edit = await runEdit({
      modelDir: input.modelDir,
      outDir: staging,
      pairsFile: input.pairsFile,
      layers: chosen.layers,
      rank: chosen.rank,
      centering: chosen.centering,
      maxPairs,
      seed,
      maxTokens,
      holdout,
      backend: input.backend,
      loraOut: input.loraOut,
      baseModel: params.base_model,
      modelSha256,
      logger: log,
    }, {
      signal,
      onProgress: (stage, d, t) => onProgress?.({ stage: "editing", editStage: stage, done: d, total: t }),
    });

    const defaultCandidate: Candidate = {
      layers: { from: Math.floor((5 * L) / 12), to: L },
      rank: EDIT_DEFAULTS.rank,
      centering: EDIT_DEFAULTS.centering,
    };
    const document: TuneDocument = {
      format: TUNE_FORMAT,
      fingerprint,
      objective,
      inputs: {
        pairs: {
          sha256: data.source.sha256,
          subspacePairs: data.indices.length,
          heldOutPairs: heldOut.length,
          holdout,
        },
        benign: {
          prompts: inputs.benignPrompts.length,
          texts: inputs.benignTexts.length,
          source: input.benignPrompts || input.benignTexts ? "given" : benignDefault,
        },
        challengePrompts: inputs.challengePrompts?.length ?? null,
        scorer: inputs.challengePrompts ? inputs.scorer?.name ?? null : null,
        maxTokens,
        seed,
        maxPairs,
      },
      search: {
        maxRank,
        layerRanges: ranges,
        centering,
        candidates: space.length,
        budget: { trials: params.trials ?? null, seconds: params.time_seconds ?? null },
        resumed,
        ran,
        seconds: searchSeconds,
        trialsPerSecond: ran / Math.max(searchSeconds, 1e-9),
      },
      base: {
        margin: base.margin.meanMargin,
        accuracy: base.margin.accuracy,
        perplexity: base.perplexity,
        toxicity: base.toxicity?.mean ?? null,
      },
      trials,
      front,
      chosen: {
        key: chosen.key,
        layers: chosen.layers,
        rank: chosen.rank,
        centering: chosen.centering,
        trial: chosen,
      },
      rule: {
        text: choice.rule,
        gainShare: GAIN_SHARE,
        maxKl: params.max_kl ?? null,
        threshold: choice.threshold,
      },
      defaultKey: candidateKey(defaultCandidate),
      notes: notes(input, inputs, benignDefault, space.length, trials.length),
    };
    await Deno.writeTextFile(join(staging, TUNE_FILE), JSON.stringify(document, null, 2) + "\n");
    await Deno.writeTextFile(
      join(staging, REPORT_HTML_FILE),
      renderReportHtml({ report: edit.report, title: "profs tune report", sections: tuneSections(document) }),
    );
    // The staged folder's files move up beside the trial store; then the staging folder goes.
    const files: string[] = [];
    for await (const entry of Deno.readDir(staging)) {
      await Deno.rename(join(staging, entry.name), join(input.outDir, entry.name));
      files.push(entry.name);
    }
    await Deno.remove(staging);
    log.info("tune finished", { out: input.outDir, seconds: (performance.now() - started) / 1000 });
    return { document, edit: { ...edit, outDir: input.outDir, files: files.sort() } };
  } finally {
    runner?.dispose();
    backend?.dispose();
    await model.close();
  }
}

function scoredOf(t: TrialRecord, objective: "margin" | "toxicity"): Scored {
  return {
    key: t.key,
    gain: objective === "toxicity" ? t.toxicity?.reduction ?? -Infinity : t.margin.gain,
    kl: t.kl,
    rank: t.rank,
    blocks: t.layers.to - t.layers.from,
  };
}

function gainName(objective: "margin" | "toxicity"): string {
  return objective === "toxicity" ? "toxicity reduction" : "held-out margin gain";
}

function notes(
  input: TuneInput,
  inputs: ObjectiveInputs,
  benignDefault: string,
  candidates: number,
  finished: number,
): string[] {
  const out: string[] = [];
  if (!input.benignPrompts && !input.benignTexts) {
    out.push(`KL and perplexity are measured on ${benignDefault}.`);
  }
  if (!inputs.challengePrompts) out.push("No challenge prompts were given: toxicity was not measured.");
  if (finished < candidates) {
    out.push(
      `The budget allowed ${finished} of ${candidates} candidates (seeded order): the front is of those.`,
    );
  }
  out.push(
    "Each trial ran the base model with the candidate's projection applied inside the forward pass; its rank-k " +
      "subspace is the first k columns of one rank-k_max decomposition per block (equal to a rank-k run to the " +
      "iteration's tolerance). The chosen edit was then written by the normal edit pipeline.",
  );
  return out;
}

function nonEmpty(texts: string[] | undefined, what: string): string[] | undefined {
  if (texts !== undefined && texts.length === 0) {
    throw new InputError(`Cannot tune as the ${what} must hold at least one text: none were given`);
  }
  return texts;
}

/**
 * The output folder: created when absent (true); an existing one may hold this search's trial store (a resume)
 * but not a finished tune, unless `overwrite`.
 */
async function prepareOutDir(outDir: string, overwrite: boolean): Promise<boolean> {
  try {
    await Deno.mkdir(outDir);
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
        throw new InputError(
          `Cannot write to '--out' as its parent folder must exist and be writable: '${outDir}' (${
            (error as Error).message
          })`,
        );
      }
      throw error;
    }
  }
  if (!(await Deno.stat(outDir)).isDirectory) {
    throw new InputError(`Cannot write to '--out' as it must be a folder: '${outDir}' is a file`);
  }
  const finished = await Deno.stat(join(outDir, TUNE_FILE)).then(() => true, () => false);
  if (finished && !overwrite) {
    throw new InputError(
      `Cannot write to '--out' as it holds a finished tune ('${TUNE_FILE}'): use a new folder or '--overwrite'`,
    );
  }
  return false;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
