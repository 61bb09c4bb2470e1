/**
 * What `profs serve` and `profs api` share: read the environment, open the database and the blob store, make
 * the bootstrap key valid, and start the service (infra/compose.ts) listening. The caller decides whether a
 * worker and a webhook dispatcher run beside the API.
 *
 * Environment: DATABASE_URL (a Postgres server; else PGlite in PROFS_DATA_DIR, default .data), PROFS_DATA_DIR,
 * PROFS_BLOB_DIR or PROFS_BLOB_URL (shared/blobs/from_env.ts), PROFS_BOOTSTRAP_KEY, PROFS_MODEL_ROOTS, PROFS_MAX_JSON_BYTES,
 * PROFS_MAX_MODEL_FILE_BYTES, PROFS_MAX_PAIRS_BYTES, PROFS_MAX_EMBEDDINGS_BYTES, PROFS_LOG_LEVEL (debug, info, warn, error),
 * PROFS_JANITOR_GRACE_SECONDS and PROFS_JANITOR_INTERVAL_SECONDS (infra/janitor.ts), PROFS_MAX_STREAMS_PER_TENANT.
 */
import { parseArgs } from "node:util";
import { configFromEnv } from "../../api/deps.ts";
import { cachedVerifier } from "../../api/key_cache.ts";
import { blobStoreConfigFromEnv, openBlobStore } from "../../shared/blobs/from_env.ts";
import { ensureBootstrapKey, keyVerifier } from "../../api/auth/index.ts";
import { openDatabase } from "../../shared/db/index.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger, type Logger, type LogLevel } from "../../shared/log.ts";
import { composeService, type Service, type ServiceOptions } from "../compose.ts";
import { janitorOptionsFromEnv } from "../janitor.ts";

export interface ServerFlags {
  port: number;
  host: string;
  /** values of the command's own string options (`extra`) */
  extra: Record<string, string | undefined>;
}

/** A command's own string options beside --port and --host (`profs serve`: the worker's), with their usage. */
export interface ExtraFlags {
  options: Record<string, { type: "string" }>;
  usage: string;
}

export function parseServerFlags(
  command: string,
  args: string[],
  defaultHost: string,
  extra: ExtraFlags = { options: {}, usage: "" },
): ServerFlags | null {
  const { values } = parseArgs({
    args,
    options: {
      ...extra.options,
      port: { type: "string", default: Deno.env.get("PORT") ?? "8080" },
      host: { type: "string", default: defaultHost },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      `usage: profs ${command} [--port N] [--host ADDRESS]${extra.usage ? " [options]" : ""}\n\n` +
        `  --port N          port to listen on (default $PORT or 8080; 0 picks a free one)\n` +
        `  --host ADDRESS    address to bind (default ${defaultHost})\n` +
        (extra.usage ? `${extra.usage}\n` : ""),
    );
    return null;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InputError(
      `Cannot listen as '--port' must be a whole number from 0 to 65535: current value is ${values.port}`,
    );
  }
  const own = Object.fromEntries(
    Object.keys(extra.options).map((
      name,
    ) => [name, (values as Record<string, unknown>)[name] as string | undefined]),
  );
  return { port, host: values.host as string, extra: own };
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

/** The service from the environment, listening on `flags`, with what runs beside the API. */
export async function startServer(
  flags: ServerFlags,
  logger: Logger,
  beside: Pick<ServiceOptions, "worker" | "dispatcher"> = {},
): Promise<Service & { url: string }> {
  const config = configFromEnv();
  const database = await openDatabase();
  let service: Service;
  try {
    const blobs = await openBlobStore(blobStoreConfigFromEnv());
    const bootstrap = Deno.env.get("PROFS_BOOTSTRAP_KEY");
    if (bootstrap) await ensureBootstrapKey(database.db, bootstrap);
    service = await composeService({
      database,
      blobs,
      logger,
      config,
      verifyKey: cachedVerifier(keyVerifier(database.db)),
      listen: { host: flags.host, port: flags.port },
      janitor: janitorOptionsFromEnv(),
      ...beside,
    });
    logger.info("listening", {
      url: service.url,
      database: database.kind,
      bootstrap_key: Boolean(bootstrap),
    });
  } catch (error) {
    await database.close();
    throw error;
  }
  return { ...service, url: service.url! };
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C, `kill`, a container stop). */
export function shutdownSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
}
