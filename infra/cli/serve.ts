/**
 * `profs serve --port N`: the embedded service in one process — the API, the database (PGlite in
 * PROFS_DATA_DIR unless DATABASE_URL is set), the blob store in a local directory, an in-process worker and an
 * in-process webhook dispatcher.
 */
import { loggerFromEnv, parseServerFlags, shutdownSignal, startServer } from "./server.ts";

export async function run(args: string[]): Promise<void> {
  const flags = parseServerFlags("serve", args, "127.0.0.1");
  if (!flags) return;
  const logger = loggerFromEnv();
  const service = await startServer(flags, logger, { worker: {}, dispatcher: true });
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
