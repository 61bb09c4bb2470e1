/**
 * The same edit three ways, in one run (issue 24): `profs edit` (the CLI), a job on `profs api` + `profs worker`
 * (Postgres server, shared blob directory) and a job on `profs serve` (the embedded service: PGlite, in-process
 * worker). The model is a generated GPT-2-medium-shaped folder (~1.35 GB F32, registered as a server-side
 * folder), the input uploaded embeddings
 * (500 pairs), layers 10:24, k = 2, backend cpu (PROFS_BENCH_BACKEND to change). For each: wall time (a job's
 * from submit to `succeeded` as the API reports it, uploads excluded), when each stage was first seen, and the
 * peak RSS of each process (the CLI's high-water mark; for the API, worker and server the largest RSS sampled
 * every 100 ms while the job ran). For each job also the server's own timeline (`serverTimeline`): queued,
 * before runEdit, runEdit as its report times it (to compare with the CLI's), and after it (publishing). Every
 * process runs with `deno task profs`'s V8 flags and the workers with their default poll (the job change feed
 * wakes them).
 *
 *   HOSTED_BENCH_ROUNDS=5 deno task bench hosted
 *
 * Targets: a job's wall ≤ 1.2× the CLI's (the median of the rounds' ratios, each round's CLI run just before its
 * jobs); serve's RSS during a job ≤ 600 MB.
 *
 * The worker run needs a Postgres server: TEST_DATABASE_URL (a database is created beside it and dropped), else
 * postgres://postgres@127.0.0.1:5432/postgres; without one it is skipped.
 */
import { join } from "node:path";
import postgres from "postgres";
import { LAYERS, PAIRS, RANK, writeMediumEdit } from "./medium_edit.ts";
import { warmPages } from "./warm_pages.ts";
import { rssMb, sampleThreads } from "./proc_stats.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** The V8 flags `deno task profs` runs with (deno.json), so every process here runs as users run it. */
const V8_FLAGS = /--v8-flags=\S+/.exec(
  JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).tasks.profs,
)?.[0] ?? "--v8-flags=";
const BACKEND = Deno.env.get("PROFS_BENCH_BACKEND") ?? "cpu";
const KEY = "bench-bootstrap-key-0123456789-abcdefghij";
/** About the output's size: the memory warmPages frees just before each measured run. */
const WARM_BYTES = 1.5 * 2 ** 30;
/** Rounds of all three (HOSTED_BENCH_ROUNDS, default 1): one machine's run-to-run spread is ±15%, so the
 * targets are judged on the medians of the per-round ratios. */
const ROUNDS = Number(Deno.env.get("HOSTED_BENCH_ROUNDS") ?? "1");

/**
 * Largest RSS of each process while `during` runs, sampled every 100 ms, and the CPU seconds each process's
 * threads used meanwhile (where a job's time goes besides the edit's own threads).
 */
async function sampled<T>(pids: Record<string, number>, during: () => Promise<T>) {
  const peak: Record<string, number> = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  const threads = Object.entries(pids).map(([name, pid]) => [name, sampleThreads(pid)] as const);
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) peak[name] = Math.max(peak[name], rssMb(pid, "VmRSS"));
  };
  const timer = setInterval(sample, 100);
  try {
    const value = await during();
    sample();
    const cpu = Object.fromEntries(threads.map(([name, sampler]) => [name, sampler.stop()]));
    return { value, peak, cpu };
  } finally {
    clearInterval(timer);
    for (const [, sampler] of threads) sampler.stop();
  }
}

function spawn(args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", V8_FLAGS, MAIN, ...args],
    env: { PROFS_LOG_LEVEL: "warn", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Reads the child's stdout until it prints its URL ("listening on URL"). */
async function listening(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${out}`);
    out += value;
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return /listening on (\S+)/.exec(out)![1];
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(`${base}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${KEY}`, ...(init.headers ?? {}) },
  });
}

async function ok(response: Response, what: string): Promise<Record<string, unknown>> {
  if (response.status >= 300) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  return await response.json();
}

/**
 * Registers the model folder (a server-side path under PROFS_MODEL_ROOTS: validated and hashed once, read in
 * place) and uploads the embeddings; returns their ids. (Uploading 1.35 GB over HTTP on the loaded 2-core
 * machine ran at about 1 MB/s, so the model is registered, not uploaded: the job reads it the same way.)
 */
async function register(base: string, modelDir: string, embeddings: string) {
  const model = await ok(
    await call(base, "/v1/models", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "medium", path: modelDir }),
    }),
    "register model",
  );
  const dataset = await ok(
    await call(base, "/v1/datasets?name=emb&kind=embeddings", {
      method: "POST",
      body: await Deno.readFile(embeddings),
    }),
    "embeddings",
  );
  return { modelId: model.id as string, datasetId: dataset.id as string };
}

/** Submits the edit and polls it to the end; returns wall seconds and when each stage was first seen. */
async function runJob(base: string, ids: { modelId: string; datasetId: string }, scratch: string) {
  await warmPages(scratch, WARM_BYTES);
  const started = performance.now();
  const edit = await ok(
    await call(base, "/v1/edits", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model_id: ids.modelId,
        dataset_id: ids.datasetId,
        params: { layers: LAYERS, rank: RANK },
      }),
    }),
    "submit",
  );
  const stages: Record<string, number> = {};
  for (;;) {
    const view = await ok(await call(base, `/v1/edits/${edit.id}`), "poll") as {
      status: string;
      progress: { stage: string } | null;
      error: unknown;
      artifacts: { name: string; url: string }[];
    };
    const at = (performance.now() - started) / 1000;
    if (view.progress) stages[view.progress.stage] ??= Number(at.toFixed(1));
    if (view.status === "succeeded") {
      return { seconds: at, stages, server: await serverTimeline(base, edit.id as string, view.artifacts) };
    }
    if (view.status === "failed" || view.status === "canceled") {
      throw new Error(`edit ${view.status}: ${JSON.stringify(view.error)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Where a job's time went, from the server's own clock (its events) and the edit's report.json: waiting in the
 * queue (created → started), the attempt before runEdit's first stage (inputs, the compute thread's start),
 * runEdit itself (as its report times it: comparable with the CLI's), and what follows it (the LoRA tar, the
 * final fsync, the artifact rows and the completing transaction).
 */
async function serverTimeline(base: string, id: string, artifacts: { name: string; url: string }[]) {
  const { data } = await ok(
    await call(base, `/v1/edits/${id}/events`, { headers: { Accept: "application/json" } }),
    "events",
  ) as unknown as { data: { type: string; at: string; data: Record<string, unknown> }[] };
  const at = (type: string, stage?: string) => {
    const event = data.find((e) => e.type === type && (stage === undefined || e.data.stage === stage));
    return event ? Date.parse(event.at) / 1000 : NaN;
  };
  const report = await ok(await call(base, artifacts.find((a) => a.name === "report.json")!.url), "report");
  const edit = (report.seconds as { total: number }).total;
  const created = at("queued");
  const started = at("started");
  const firstStage = at("progress", "loading_model");
  const finished = at("succeeded");
  const round = (x: number) => Number(x.toFixed(2));
  return {
    queued: round(started - created),
    beforeEdit: round(firstStage - started),
    edit: round(edit),
    editStages: report.seconds,
    afterEdit: round(finished - firstStage - edit),
  };
}

async function stop(child: Deno.ChildProcess) {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
}

/** `profs edit` in a child process: its wall time, report and peak RSS; the output folder is removed after. */
async function cliEdit(modelDir: string, embeddings: string, out: string) {
  const started = performance.now();
  const cli = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      V8_FLAGS,
      MAIN,
      "edit",
      "--model",
      modelDir,
      "--embeddings",
      embeddings,
      "--out",
      out,
      "--layers",
      `${LAYERS.from}:${LAYERS.to}`,
      "--rank",
      String(RANK),
      "--backend",
      BACKEND,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let peak = 0;
  const timer = setInterval(() => peak = Math.max(peak, rssMb(cli.pid, "VmHWM")), 100);
  const status = await cli.status;
  clearInterval(timer);
  if (!status.success) throw new Error("profs edit failed");
  const seconds = (performance.now() - started) / 1000;
  const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  await Deno.remove(out, { recursive: true });
  return { seconds, report, peak };
}

const fmt = (peak: Record<string, number>) =>
  Object.entries(peak).map(([k, v]) => `${k} ${v.toFixed(0)} MiB`).join(", ");

/** One round: the CLI, then a worker job (when a Postgres server answers), then a serve job; their walls. */
async function round(dir: string, modelDir: string, embeddings: string) {
  // 1. The CLI. Every measured run starts right after warmPages (see there), so all three write their output on
  // memory in the same state.
  await warmPages(dir, WARM_BYTES);
  const { seconds: cliSeconds, report, peak: cliPeak } = await cliEdit(
    modelDir,
    embeddings,
    join(dir, "cli-out"),
  );
  console.log(
    `profs edit: ${cliSeconds.toFixed(1)} s wall (report: ${JSON.stringify(report.seconds)}), ` +
      `peak RSS ${cliPeak.toFixed(0)} MiB`,
  );
  const walls: { cli: number; worker?: number; serve?: number; servePeak?: number } = { cli: cliSeconds };

  // 2. profs api + profs worker on a Postgres server.
  const serverUrl = Deno.env.get("TEST_DATABASE_URL") || "postgres://postgres@127.0.0.1:5432/postgres";
  const dbName = `profs_hosted_bench_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  let haveServer = true;
  try {
    await admin.unsafe(`CREATE DATABASE ${dbName}`);
  } catch (error) {
    haveServer = false;
    console.log(`profs worker skipped: no Postgres server at ${serverUrl} (${(error as Error).message})`);
  }
  if (haveServer) {
    const url = new URL(serverUrl);
    url.pathname = `/${dbName}`;
    const env = {
      DATABASE_URL: url.href,
      PROFS_DATA_DIR: join(dir, "scaled"),
      PROFS_BOOTSTRAP_KEY: KEY,
      PROFS_MODEL_ROOTS: dir,
    };
    const api = spawn(["api", "--port", "0", "--host", "127.0.0.1"], env);
    let worker: Deno.ChildProcess | null = null;
    try {
      const base = await listening(api);
      worker = spawn(["worker", "--backend", BACKEND], env);
      const ids = await register(base, modelDir, embeddings);
      const { value, peak, cpu } = await sampled(
        { api: api.pid, worker: worker.pid },
        () => runJob(base, ids, dir),
      );
      walls.worker = value.seconds;
      console.log(
        `profs worker job: ${value.seconds.toFixed(1)} s wall (${
          (value.seconds / cliSeconds).toFixed(2)
        }× the ` +
          `CLI), stages first seen at (s): ${JSON.stringify(value.stages)}; server side (s): ${
            JSON.stringify(value.server)
          }; peak RSS during the job: ${fmt(peak)}; CPU seconds by thread: ${JSON.stringify(cpu)}`,
      );
    } finally {
      if (worker) await stop(worker);
      await stop(api);
      await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    }
  }
  await admin.end();
  await Deno.remove(join(dir, "scaled"), { recursive: true }).catch(() => {}); // its output, as after the CLI

  // 3. profs serve (embedded).
  const serve = spawn(["serve", "--port", "0", "--backend", BACKEND], {
    DATABASE_URL: "",
    PROFS_DATA_DIR: join(dir, "embedded"),
    PROFS_BOOTSTRAP_KEY: KEY,
    PROFS_MODEL_ROOTS: dir,
  });
  try {
    const base = await listening(serve);
    const ids = await register(base, modelDir, embeddings);
    const before = rssMb(serve.pid, "VmRSS");
    const { value, peak, cpu } = await sampled({ serve: serve.pid }, () => runJob(base, ids, dir));
    walls.serve = value.seconds;
    walls.servePeak = peak.serve;
    console.log(
      `profs serve job: ${value.seconds.toFixed(1)} s wall (${
        (value.seconds / cliSeconds).toFixed(2)
      }× the ` +
        `CLI), stages first seen at (s): ${JSON.stringify(value.stages)}; server side (s): ${
          JSON.stringify(value.server)
        }; RSS ${before.toFixed(0)} MiB before ` +
        `the job, peak during it: ${fmt(peak)}; CPU seconds by thread: ${JSON.stringify(cpu)}`,
    );
  } finally {
    await stop(serve);
  }
  await Deno.remove(join(dir, "embedded"), { recursive: true }).catch(() => {});
  return walls;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const dir = await Deno.makeTempDir({ prefix: "profs-hosted-bench-" });
try {
  const { modelDir, embeddings, modelMb } = await writeMediumEdit(dir);
  console.log(
    `model ${modelMb.toFixed(0)} MiB, ${PAIRS} pairs as embeddings, layers ${LAYERS.from}:${LAYERS.to}, ` +
      `k=${RANK}, backend ${BACKEND}, ${V8_FLAGS}, ${ROUNDS} round(s); load average ${
        Deno.loadavg().map((l) => l.toFixed(1)).join(" ")
      }`,
  );
  const rounds: Awaited<ReturnType<typeof round>>[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    if (ROUNDS > 1) console.log(`round ${r} of ${ROUNDS}`);
    rounds.push(await round(dir, modelDir, embeddings));
  }
  const ratios = (side: "worker" | "serve") =>
    rounds.filter((w) => w[side] !== undefined).map((w) => w[side]! / w.cli);
  const say = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" / ");
  for (const side of ["worker", "serve"] as const) {
    const xs = ratios(side);
    if (xs.length === 0) continue;
    console.log(
      `${side} job / CLI wall: ${say(xs)}; median ${median(xs).toFixed(2)}× (target ≤ 1.2×: ${
        median(xs) <= 1.2 ? "met" : "not met"
      })`,
    );
  }
  const peaks = rounds.map((w) => w.servePeak).filter((p) => p !== undefined) as number[];
  if (peaks.length) {
    console.log(
      `serve's peak RSS during a job: ${peaks.map((p) => p.toFixed(0)).join(" / ")} MiB (target ≤ 600 MB: ${
        Math.max(...peaks) <= 600 ? "met" : "not met"
      })`,
    );
  }
  console.log(`load average at the end ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
