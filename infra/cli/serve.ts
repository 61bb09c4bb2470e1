/**
 * `profs serve --port N [--backend B] [worker options]`: the embedded service in one process — the API, the
 * database (PGlite in PROFS_DATA_DIR unless DATABASE_URL is set), the blob store in a local directory, an
 * in-process worker and an in-process webhook dispatcher. The worker takes the options of `profs worker`
 * (gpu-worker/cli/worker.ts), `--backend auto` by default: webgpu on a hardware adapter, cpu otherwise.
 */
import { WORKER_OPTIONS, WORKER_OPTIONS_USAGE, workerSettings } from "../../gpu-worker/cli/worker.ts";
import { loggerFromEnv, parseServerFlags, shutdownSignal, startServer } from "./server.ts";

export async function run(args: string[]): Promise<void> {
  const flags = parseServerFlags("serve", args, "127.0.0.1", {
    options: WORKER_OPTIONS,
    usage: `\nthe in-process worker:\n${WORKER_OPTIONS_USAGE}`,
  });
  if (!flags) return;
  const worker = workerSettings(flags.extra);
  const logger = loggerFromEnv();
  const service = await startServer(flags, logger, { worker, dispatcher: true });
  console.log(
    `profs listening on ${service.url} (database: ${service.database.kind}, worker: ${
      service.worker!.owner
    })`,
  );
  const signal = await shutdownSignal();
  logger.info("shutting down", { signal });
  // close() stops the worker first: a running attempt is handed back for a retry before the database closes.
  await service.close();
}
