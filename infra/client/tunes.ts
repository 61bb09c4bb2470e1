/**
 * `profs tunes create|list|show|events|cancel|download`: tune jobs from the terminal — the service's `profs tune`.
 * `create --follow` and `show --follow` follow the job's events (a progress bar per stage, one line per finished
 * trial) and end with the chosen point; `download` fetches the chosen edit's files, tune.json and report.html.
 */
import type { z } from "zod";
import type { JobEvent } from "../../shared/contracts/edits.ts";
import {
  type TunePage as TunePageSchema,
  tuneParamsFromFlags,
  type TuneView,
} from "../../shared/contracts/tunes.ts";
import { InputError } from "../../shared/errors.ts";
import { NO_PROGRESS, terminalProgress } from "../../shared/progress.ts";
import { action, intFlag, operands, parse, service, str } from "./common.ts";
import { allEvents, downloadEdit, eventLine, followEdit, progressText } from "./edits.ts";
import type { Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";

type TunePage = z.infer<typeof TunePageSchema>;

export const USAGE = `usage: profs tunes <create|list|show|events|cancel|download> [options]

  profs tunes create --model ID --dataset ID [--prompts ID] [--benign ID] [--max-rank K]
                     [--layers-grid LIST] [--centering on|off|both] [--trials N | --time S] [--max-kl X]
                     [--objective margin|toxicity] [--holdout SHARE] [--max-pairs N] [--seed N] [--max-tokens N]
                     [--idempotency-key K] [--follow]
        start a tune (the parameters of profs tune; --prompts and --benign name texts datasets); prints its id
        (or, with --follow, one line per trial and then the chosen point)
  profs tunes list [--status S] [--limit N]
  profs tunes show ID [--follow]
  profs tunes events ID [--after SEQ]
  profs tunes cancel ID
  profs tunes download ID [--out DIR] [--artifact NAME]
        the chosen edit's files, tune.json and report.html into DIR (default tune-ID), resumed and checked as
        profs edits download does

every command: --json. Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, {
    model: { type: "string" },
    dataset: { type: "string" },
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
    "idempotency-key": { type: "string" },
    follow: { type: "boolean", short: "f" },
    status: { type: "string" },
    limit: { type: "string" },
    after: { type: "string" },
    out: { type: "string", short: "o" },
    artifact: { type: "string" },
  }, USAGE);
  if (!p) return;
  const act = action(
    "tunes",
    p.positionals,
    ["create", "list", "show", "events", "cancel", "download"],
    USAGE,
  );
  const v = p.values;
  // The flags are checked before the service is asked anything.
  const params = act === "create"
    ? tuneParamsFromFlags({
      max_rank: str(v["max-rank"]),
      layers_grid: str(v["layers-grid"]),
      centering: str(v.centering),
      trials: str(v.trials),
      time_seconds: str(v.time),
      max_kl: str(v["max-kl"]),
      objective: str(v.objective),
      holdout: str(v.holdout),
      max_pairs: str(v["max-pairs"]),
      seed: str(v.seed),
      max_tokens: str(v["max-tokens"]),
    })
    : undefined;
  const api = await service();
  const progress = p.json ? NO_PROGRESS : terminalProgress();
  const log = p.json ? () => {} : note;
  if (act === "create") {
    operands(p.positionals, [], "create a tune");
    const model = str(v.model), dataset = str(v.dataset);
    if (!model || !dataset) {
      throw new InputError("Cannot create a tune as '--model' and '--dataset' must be given: one is missing");
    }
    const key = str(v["idempotency-key"]);
    const tune = await api.json<TuneView>("/v1/tunes", {
      method: "POST",
      data: {
        model_id: model,
        dataset_id: dataset,
        ...(str(v.prompts) ? { prompts_dataset_id: str(v.prompts) } : {}),
        ...(str(v.benign) ? { benign_dataset_id: str(v.benign) } : {}),
        params,
      },
      headers: key ? { "Idempotency-Key": key } : {},
    });
    if (!v.follow) {
      if (p.json) printJson(tune);
      else console.log(tune.id);
      return;
    }
    log(`tune ${tune.id} queued`);
    finish(await follow(api, tune.id, progress, log), p.json);
  } else if (act === "list") {
    operands(p.positionals, [], "list tunes");
    const query = new URLSearchParams({ limit: String(intFlag(v.limit, "--limit", 1, 100) ?? 20) });
    if (str(v.status)) query.set("status", str(v.status)!);
    const page = await api.json<TunePage>(`/v1/tunes?${query}`);
    if (p.json) printJson(page);
    else {
      console.log(table(
        ["ID", "STATUS", "MODEL", "DATASET", "PROGRESS", "CHOSEN", "CREATED"],
        page.data.map((t) => [
          t.id,
          t.status,
          t.model_id,
          t.dataset_id,
          progressText(t),
          t.result?.chosen.key ?? "-",
          t.created_at,
        ]),
      ));
    }
  } else if (act === "show") {
    const [id] = operands(p.positionals, ["ID"], "show a tune");
    const tune = v.follow
      ? await follow(api, id, progress, log)
      : await api.json<TuneView>(`/v1/tunes/${encodeURIComponent(id)}`);
    if (p.json) printJson(tune);
    else console.log(describeTune(tune));
  } else if (act === "events") {
    const [id] = operands(p.positionals, ["ID"], "list a tune's events");
    const after = intFlag(v.after, "--after", 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const events = await allEvents(api, id, after, "tunes");
    if (p.json) printJson({ data: events });
    else for (const e of events) console.log(trialLine(e) ?? eventLine(e));
  } else if (act === "cancel") {
    const [id] = operands(p.positionals, ["ID"], "cancel a tune");
    const tune = await api.json<TuneView>(`/v1/tunes/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    if (p.json) printJson(tune);
    else {note(
        `tune ${tune.id}: ${tune.status}${
          tune.cancel_requested && tune.status === "running" ? " (cancel requested)" : ""
        }`,
      );}
  } else {
    const [id] = operands(p.positionals, ["ID"], "download a tune's artifacts");
    const files = await downloadEdit(api, id, {
      out: str(v.out) ?? `tune-${id}`,
      artifact: str(v.artifact),
      progress,
      log,
      kind: "tunes",
    });
    if (p.json) printJson({ data: files });
    else for (const f of files) console.log(f.path);
  }
}

async function follow(
  api: Http,
  id: string,
  progress: ReturnType<typeof terminalProgress>,
  log: (line: string) => void,
): Promise<TuneView> {
  await followEdit(api, id, { progress, log, kind: "tunes", line: trialLine });
  return await api.json<TuneView>(`/v1/tunes/${encodeURIComponent(id)}`);
}

/** Prints the followed tune; one that did not succeed makes the command fail (exit 1) with its error. */
function finish(tune: TuneView, json: boolean): void {
  if (json) printJson(tune);
  else console.log(describeTune(tune));
  if (tune.status !== "succeeded") {
    throw new InputError(`tune ${tune.id} ${tune.status}${tune.error ? `: ${tune.error.message}` : ""}`);
  }
}

const fmt = (v: number) => Number(v.toPrecision(3)).toString();

/** A finished trial as one line; undefined for other events. */
export function trialLine(e: JobEvent): string | undefined {
  if (e.type !== "trial") return undefined;
  const t = e.data as {
    key?: string;
    margin?: { gain: number };
    kl?: number;
    toxicity?: { shareToxic: number } | null;
  };
  if (!t.key || !t.margin || t.kl === undefined) return undefined;
  return `trial ${t.key}: margin gain ${fmt(t.margin.gain)} nats/token, KL ${fmt(t.kl)} nats` +
    (t.toxicity ? `, toxic ${fmt(100 * t.toxicity.shareToxic)}%` : "");
}

export function describeTune(t: TuneView): string {
  const lines = [`${t.id}  ${t.status}  model ${t.model_id ?? "-"}  dataset ${t.dataset_id ?? "-"}`];
  if (t.progress && (t.status === "queued" || t.status === "running")) {
    lines.push(`  progress: ${progressText(t)}`);
  }
  if (t.error) lines.push(`  error: ${t.error.message}`);
  const r = t.result;
  if (r) {
    const c = r.chosen;
    lines.push(
      `  searched ${r.trials} of ${r.candidates} candidates (${fmt(r.trials_per_second)} trials/s${
        r.resumed ? `, ${r.resumed} resumed` : ""
      })`,
      `  chose layers ${c.layers.from}:${c.layers.to}, rank ${c.rank}, centering ${
        c.centering ? "on" : "off"
      }: ` +
        `margin gain ${fmt(c.margin_gain)} nats/token (accuracy ${fmt(100 * r.base.accuracy)}% → ${
          fmt(100 * c.accuracy)
        }%), KL ${fmt(c.kl)} nats`,
      `  rule: ${r.rule}`,
    );
    if (r.default) {
      lines.push(
        `  default parameters (${r.default.key}): margin gain ${fmt(r.default.margin_gain)}, KL ${
          fmt(r.default.kl)
        } nats`,
      );
    }
  }
  for (const a of t.artifacts) lines.push(`  artifact ${a.name} (${a.size} bytes)`);
  return lines.join("\n");
}
