/**
 * `profs worker`: a worker process for the scaled-out service. It claims jobs from the Postgres server named by
 * DATABASE_URL and reads and writes blobs in the store every API and worker process shares: a directory
 * (PROFS_BLOB_DIR, or PROFS_DATA_DIR/blobs; a shared mount across machines) or an S3 bucket (PROFS_BLOB_URL). Stops on SIGINT/SIGTERM,
 * handing a running job back to the queue.
 */
import { parseArgs } from "node:util";
import { blobStoreConfigFromEnv, openBlobStore } from "../../shared/blobs/from_env.ts";
import { openDatabase } from "../../shared/db/index.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger } from "../../shared/log.ts";
import { parseBackendName } from "../profs/select.ts";
import { startWorker } from "../worker/worker.ts";

export const USAGE = `usage: profs worker [options]

Claims jobs from DATABASE_URL (a Postgres server shared with the API) until stopped (SIGINT/SIGTERM).

  --backend B          auto | webgpu | cpu (default auto)
  --lease-ms N         lease length; a job whose worker stops heartbeating is retried after it (default 60000)
  --heartbeat-ms N     heartbeat period, also how fast a cancel is seen (default lease / 4)
  --poll-ms N          wait between empty polls of the queue (default 1000)
  --work-dir DIR       scratch space for running jobs (default the system temp directory)

environment:
  DATABASE_URL         postgres://… (required: the embedded database belongs to 'profs serve')
  PROFS_BLOB_DIR       blob directory shared with the API (default PROFS_DATA_DIR/blobs, PROFS_DATA_DIR=.data)
  PROFS_BLOB_URL       s3://bucket/prefix instead of a directory, with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                       AWS_REGION (default us-east-1), PROFS_S3_ENDPOINT (an S3-compatible server's URL)`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: "string" },
      "lease-ms": { type: "string" },
      "heartbeat-ms": { type: "string" },
      "poll-ms": { type: "string" },
      "work-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const url = Deno.env.get("DATABASE_URL");
  if (!url) {
    throw new InputError(
      "Cannot start a worker as DATABASE_URL must name the Postgres server the API uses (the embedded " +
        "database runs its worker inside 'profs serve'): it is unset",
    );
  }
  const settings = {
    backend: parseBackendName(values.backend ?? "auto"),
    leaseMs: milliseconds(values["lease-ms"], "--lease-ms"),
    heartbeatMs: milliseconds(values["heartbeat-ms"], "--heartbeat-ms"),
    pollMs: milliseconds(values["poll-ms"], "--poll-ms"),
    workDir: values["work-dir"],
  };
  const logger = createLogger({ fields: { service: "worker" } });
  const database = await openDatabase({ url });
  const blobs = await openBlobStore(blobStoreConfigFromEnv());
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  try {
    const worker = startWorker({
      db: database.db,
      blobs,
      logger,
      signal: stop.signal,
      ...settings,
    });
    await worker.done;
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
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
