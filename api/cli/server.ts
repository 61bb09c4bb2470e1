/**
 * What `profs serve` and `profs api` share: read the environment, open the database and the blob store, make
 * the bootstrap key valid, build the app and listen. The caller decides whether a worker runs beside it.
 *
 * Environment: DATABASE_URL (a Postgres server; else PGlite in PROFS_DATA_DIR, default .data), PROFS_DATA_DIR,
 * PROFS_BLOB_DIR or PROFS_BLOB_URL (shared/blobs/from_env.ts), PROFS_BOOTSTRAP_KEY, PROFS_MODEL_ROOTS, PROFS_MAX_JSON_BYTES,
 * PROFS_MAX_MODEL_FILE_BYTES, PROFS_MAX_PAIRS_BYTES, PROFS_MAX_EMBEDDINGS_BYTES, PROFS_LOG_LEVEL (debug, info, warn, error).
 */
import { parseArgs } from "node:util";
import { createApp } from "../app.ts";
import { configFromEnv } from "../deps.ts";
import { cachedVerifier } from "../key_cache.ts";
import { blobStoreConfigFromEnv, openBlobStore } from "../../shared/blobs/from_env.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";
import { ensureBootstrapKey, keyVerifier } from "../auth/index.ts";
import { createJobQueue, type Database, type JobQueue, openDatabase } from "../../shared/db/index.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger, type Logger, type LogLevel } from "../../shared/log.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

export interface ServerFlags {
  port: number;
  host: string;
}

export interface RunningServer {
  url: string;
  database: Database;
  blobs: BlobStore;
  queue: JobQueue;
  logger: Logger;
  /** Stops accepting requests, waits for the ones in flight, closes the database. */
  close(): Promise<void>;
}

export function parseServerFlags(command: string, args: string[], defaultHost: string): ServerFlags | null {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: Deno.env.get("PORT") ?? "8080" },
      host: { type: "string", default: defaultHost },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      `usage: profs ${command} [--port N] [--host ADDRESS]\n\n` +
        `  --port N          port to listen on (default $PORT or 8080; 0 picks a free one)\n` +
        `  --host ADDRESS    address to bind (default ${defaultHost})\n`,
    );
    return null;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InputError(
      `Cannot listen as '--port' must be a whole number from 0 to 65535: current value is ${values.port}`,
    );
  }
  return { port, host: values.host };
}

export function loggerFromEnv(): Logger {
  const level = (Deno.env.get("PROFS_LOG_LEVEL") ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level)) {
    throw new InputError(
      `Cannot log as PROFS_LOG_LEVEL must be debug, info, warn or error: current value is ${level}`,
    );
  }
  return createLogger({ level });
}

export async function startServer(flags: ServerFlags, logger: Logger): Promise<RunningServer> {
  const config = configFromEnv();
  const database = await openDatabase();
  try {
    const blobs = await openBlobStore(blobStoreConfigFromEnv());
    const bootstrap = Deno.env.get("PROFS_BOOTSTRAP_KEY");
    if (bootstrap) await ensureBootstrapKey(database.db, bootstrap);
    // One queue for the API and an in-process worker, so every finished job feeds the webhook outbox.
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const app = createApp({
      database,
      blobs,
      logger,
      config,
      queue,
      verifyKey: cachedVerifier(keyVerifier(database.db)),
    });
    const server = Deno.serve({ hostname: flags.host, port: flags.port, onListen: () => {} }, app.fetch);
    const shown = flags.host === "0.0.0.0" || flags.host === "::" ? "127.0.0.1" : flags.host;
    const url = `http://${shown.includes(":") ? `[${shown}]` : shown}:${server.addr.port}`;
    logger.info("listening", { url, database: database.kind, bootstrap_key: Boolean(bootstrap) });
    return {
      url,
      database,
      blobs,
      queue,
      logger,
      async close() {
        await server.shutdown();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C, `kill`, a container stop). */
export function shutdownSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
}
