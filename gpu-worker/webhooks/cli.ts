/**
 * `profs dispatcher`: a process that only delivers webhooks, against the shared Postgres server (DATABASE_URL).
 * Run as many as you like; they share the outbox through leases. `profs serve` runs the same loop in-process.
 *
 * Because it is its own process it can be fenced by Deno's permissions as a second SSRF layer, e.g.
 *
 *   deno run --allow-all --deny-net=127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,\
 *     100.64.0.0/10,0.0.0.0/8,[::1] main.ts dispatcher
 *
 * (see api/README.md, "Webhooks", for what that flag does and does not cover).
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { openDatabase } from "../../shared/db/connection.ts";
import type { Database } from "../../shared/db/database.ts";
import { InputError } from "../../shared/errors.ts";
import { createLogger, type Logger } from "../../shared/log.ts";
import { type WebhookConfig, webhookConfigFromEnv } from "../../shared/webhooks/config.ts";
import { type RunningDispatcher, startDispatcher } from "./dispatcher.ts";

const USAGE = `usage: profs dispatcher [--poll-ms N] [--batch-size N]

Delivers the webhook outbox of DATABASE_URL until SIGINT/SIGTERM.
Environment: DATABASE_URL (required), PROFS_WEBHOOK_ALLOWLIST, PROFS_PUBLIC_URL, PROFS_WEBHOOK_TIMEOUT_MS.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "poll-ms": { type: "string", default: "1000" },
      "batch-size": { type: "string", default: "16" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const pollMs = positiveInt("--poll-ms", values["poll-ms"]);
  const batchSize = positiveInt("--batch-size", values["batch-size"]);
  if (!Deno.env.get("DATABASE_URL")) {
    throw new InputError(
      "Cannot start a separate dispatcher as DATABASE_URL must name the shared Postgres server: current value is unset " +
        "(the embedded database belongs to `profs serve`, which dispatches in-process)",
    );
  }
  const logger = createLogger({ fields: { service: "dispatcher" } });
  const database = await openDatabase();
  const dispatcher = startWebhookDispatcher(database, logger, { pollMs, batchSize });
  logger.info("webhook dispatcher started", { poll_ms: pollMs, batch_size: batchSize });
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => resolve());
  });
  await dispatcher.stop();
  await database.close();
}

/**
 * The dispatcher loop with settings from the environment unless `config` is given; `serve` calls this (through
 * infra/compose.ts) for its in-process dispatcher.
 */
export function startWebhookDispatcher(
  database: Database,
  logger: Logger,
  options: { pollMs?: number; batchSize?: number; config?: WebhookConfig } = {},
): RunningDispatcher {
  const { config = webhookConfigFromEnv(), ...tuning } = options;
  return startDispatcher({
    db: database.db,
    logger,
    owner: `${hostname()}:${Deno.pid}`,
    allowlist: config.allowlist,
    publicUrl: config.publicUrl,
    timeoutMs: config.timeoutMs,
    ...tuning,
  });
}

function positiveInt(flag: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InputError(
      `Cannot start the dispatcher as '${flag}' must be a positive integer: current value is ${text}`,
    );
  }
  return n;
}
