/**
 * `profs worker`: a worker process for the scaled-out service. It claims jobs from the Postgres server named by
 * DATABASE_URL and reads and writes blobs in the store every API and worker process shares: a directory
 * (PROFS_BLOB_DIR, or PROFS_DATA_DIR/blobs; a shared mount across machines) or an S3 bucket (PROFS_BLOB_URL). Stops on SIGINT/SIGTERM,
 * handing a running job back to the queue.
 */
import { parseArgs } from "node:util";
import { blobStoreConfigFromEnv, openBlobStore } from "../../shared/blobs/from_env.ts";
import { openDatabase, watchJobChanges } from "../../shared/db/index.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger } from "../../shared/log.ts";
import { parseBackendName } from "../profs/select.ts";
import { startWorker, type WorkerOptions } from "../worker/worker.ts";
import { checkJobSeconds } from "../worker/jobs/time_limit.ts";

/** The options a worker takes, shared by `profs worker` and `profs serve` (whose worker runs in-process). */
export const WORKER_OPTIONS_USAGE =
  `  --backend B          auto | webgpu | cpu (default auto: webgpu on a hardware adapter, else cpu)
  --lease-ms N         lease length; a job whose worker stops heartbeating is retried after it (default 60000)
  --heartbeat-ms N     heartbeat period, also how fast a cancel is seen (default lease / 4)
  --poll-ms N          wait between empty polls of the queue (default 1000; a submitted job wakes it at once)
  --work-dir DIR       scratch space for running jobs (default the system temp directory)
  --max-job-seconds S  stop and fail a job that runs longer (default PROFS_JOB_MAX_SECONDS, else sized from
                       the job: 1800 s + 60 s per edited block + 2 s per pair (max_pairs) + 900 s with check)`;

/** `parseArgs` options for WORKER_OPTIONS_USAGE. */
export const WORKER_OPTIONS = {
  backend: { type: "string" },
  "lease-ms": { type: "string" },
  "heartbeat-ms": { type: "string" },
  "poll-ms": { type: "string" },
  "work-dir": { type: "string" },
  "max-job-seconds": { type: "string" },
} as const;

export type WorkerSettings = Pick<
  WorkerOptions,
  "backend" | "leaseMs" | "heartbeatMs" | "pollMs" | "workDir" | "maxJobSeconds"
>;

/** The worker's settings from parsed WORKER_OPTIONS values; throws an InputError naming a bad flag. */
export function workerSettings(values: Partial<Record<keyof typeof WORKER_OPTIONS, string>>): WorkerSettings {
  return {
    backend: parseBackendName(values.backend ?? "auto"),
    leaseMs: milliseconds(values["lease-ms"], "--lease-ms"),
    heartbeatMs: milliseconds(values["heartbeat-ms"], "--heartbeat-ms"),
    pollMs: milliseconds(values["poll-ms"], "--poll-ms"),
    workDir: values["work-dir"],
    maxJobSeconds: values["max-job-seconds"] === undefined
      ? undefined
      : checkJobSeconds(Number(values["max-job-seconds"]), "--max-job-seconds", values["max-job-seconds"]),
  };
}

export const USAGE = `usage: profs worker [options]

Claims jobs from DATABASE_URL (a Postgres server shared with the API) until stopped (SIGINT/SIGTERM).

${WORKER_OPTIONS_USAGE}

environment:
  DATABASE_URL         postgres://… (required: the embedded database belongs to 'profs serve')
  PROFS_JOB_MAX_SECONDS  one time limit for every job, in seconds (see --max-job-seconds)
  PROFS_BLOB_DIR       blob directory shared with the API (default PROFS_DATA_DIR/blobs, PROFS_DATA_DIR=.data)
  PROFS_BLOB_URL       s3://bucket/prefix instead of a directory, with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                       AWS_REGION (default us-east-1), PROFS_S3_ENDPOINT (an S3-compatible server's URL)`;

/** `env`: where the settings are read (the process environment; tests pass their own, never the process's). */
export async function run(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...WORKER_OPTIONS, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const settings = workerSettings(values);
  const url = env("DATABASE_URL");
  if (!url) {
    throw new InputError(
      "Cannot start a worker as DATABASE_URL must name the Postgres server the API uses (the embedded " +
        "database runs its worker inside 'profs serve'): it is unset",
    );
  }
  const logger = createLogger({ fields: { service: "worker" } });
  const database = await openDatabase({ url });
  const blobs = await openBlobStore(blobStoreConfigFromEnv(env));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  const changes = watchJobChanges(database, logger); // a submitted job is claimed at once, not at the next poll
  try {
    const worker = startWorker({
      db: database.db,
      blobs,
      logger,
      signal: stop.signal,
      changes,
      ...settings,
    });
    await worker.done;
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
    await changes.close();
    await database.close();
  }
}

function milliseconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 10) {
    throw new InputError(
      `Cannot start a worker as '${flag}' must be a whole number of milliseconds, at least 10: current value is '${value}'`,
    );
  }
  return n;
}
