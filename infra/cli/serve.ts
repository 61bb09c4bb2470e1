/**
 * `profs serve --port N`: the embedded service in one process — the API, the database (PGlite in
 * PROFS_DATA_DIR unless DATABASE_URL is set), the blob store in a local directory, an in-process worker and an
 * in-process webhook dispatcher.
 */
import { loggerFromEnv, parseServerFlags, shutdownSignal, startServer } from "../../api/cli/server.ts";

export async function run(args: string[]): Promise<void> {
  const flags = parseServerFlags("serve", args, "127.0.0.1");
  if (!flags) return;
  const logger = loggerFromEnv();
  const server = await startServer(flags, logger);
  const { startWorker } = await import("../../gpu-worker/worker/worker.ts");
  const worker = startWorker({ db: server.database.db, blobs: server.blobs, logger, queue: server.queue });
  const { startWebhookDispatcher } = await import("../../gpu-worker/webhooks/cli.ts");
  const dispatcher = startWebhookDispatcher(server.database, logger);
  console.log(
    `profs listening on ${server.url} (database: ${server.database.kind}, worker: ${worker.owner})`,
  );
  const signal = await shutdownSignal();
  logger.info("shutting down", { signal });
  // The worker first: a running attempt is handed back for a retry before the database closes.
  await worker.stop();
  await dispatcher.stop();
  await server.close();
}
