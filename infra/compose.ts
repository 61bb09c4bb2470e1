/**
 * `composeService()`: the one place the service's pieces are put together — `profs serve`, `profs api`, the demo
 * and the tests all call it, so they run the same wiring. It lives in infra/ (scripts that start services)
 * because it is the only code allowed to see every side: it builds the job queue with the webhook outbox as its
 * `onFinish` hook (shared/db knows nothing of webhooks), hands that queue to the API (which never imports the
 * worker) and, when asked, to an in-process worker and webhook dispatcher (gpu-worker/).
 *
 * The caller opens the database and the blob store (it knows where they live: the environment for the CLIs, a
 * memory database for the demo and tests); the service owns them from then on and `close()` releases everything
 * in order: the worker first (a running attempt is handed back for a retry), the janitor, the dispatcher, the
 * HTTP server, then the database.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createApp } from "../api/app.ts";
import { type ApiConfig, DEFAULT_CONFIG } from "../api/deps.ts";
import type { ApiEnv } from "../api/env.ts";
import type { VerifyKey } from "../api/middleware/auth.ts";
import type { Worker, WorkerOptions } from "../gpu-worker/worker/worker.ts";
import type { BlobStore } from "../shared/blobs/store.ts";
import type { Database } from "../shared/db/database.ts";
import { createJobQueue, type JobQueue, type JobQueueOptions } from "../shared/db/queue.ts";
import { watchJobChanges } from "../shared/db/job_changes.ts";
import type { Logger } from "../shared/log.ts";
import { type WebhookConfig, webhookConfigFromEnv } from "../shared/webhooks/config.ts";
import { notifyJobFinished } from "../shared/webhooks/events.ts";
import { type JanitorOptions, startJanitor } from "./janitor.ts";

export interface ServiceOptions {
  database: Database;
  blobs: BlobStore;
  logger: Logger;
  /** API key → tenant and scopes. */
  verifyKey: VerifyKey;
  /** API limits; default DEFAULT_CONFIG. */
  config?: ApiConfig;
  /** Queue tuning (retry policy, jitter source); the `onFinish` hook is always the webhook outbox write. */
  queue?: Omit<JobQueueOptions, "onFinish">;
  /** Serve the app over HTTP on this address (port 0 picks a free one); omit to build the app only. */
  listen?: { host: string; port: number };
  /** Run a worker in this process with these options (the embedded service); omit for none. */
  worker?: Omit<WorkerOptions, "db" | "blobs" | "logger" | "queue" | "changes">;
  /** Run the webhook dispatcher in this process. */
  dispatcher?: boolean;
  /**
   * Webhook settings for the API's registration check and the dispatcher alike; default: the environment's
   * (shared/webhooks/config.ts), read once here.
   */
  webhooks?: WebhookConfig;
  /** Run the blob janitor (infra/janitor.ts) in this process on this schedule; omit for none. */
  janitor?: JanitorOptions;
}

export interface Service {
  app: OpenAPIHono<ApiEnv>;
  queue: JobQueue;
  database: Database;
  blobs: BlobStore;
  /** e.g. http://127.0.0.1:41234, when `listen` was given. */
  url?: string;
  /** The in-process worker, when `worker` was given. */
  worker?: Worker;
  /** Stops the worker, the dispatcher and the server, then closes the database. */
  close(): Promise<void>;
}

export async function composeService(options: ServiceOptions): Promise<Service> {
  const { database, blobs, logger } = options;
  const queue = createJobQueue({ ...options.queue, onFinish: notifyJobFinished });
  const webhooks = options.webhooks ?? webhookConfigFromEnv();
  const app = createApp({
    database,
    blobs,
    logger,
    config: options.config ?? DEFAULT_CONFIG,
    queue,
    verifyKey: options.verifyKey,
    webhooks,
  });
  const stops: (() => Promise<void>)[] = [];
  let url: string | undefined;
  let worker: Worker | undefined;
  try {
    if (options.listen) {
      const { host, port } = options.listen;
      const server = Deno.serve({ hostname: host, port, onListen: () => {} }, app.fetch);
      const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
      url = `http://${shown.includes(":") ? `[${shown}]` : shown}:${server.addr.port}`;
      stops.unshift(() => server.shutdown());
    }
    if (options.dispatcher) {
      const { startWebhookDispatcher } = await import("../gpu-worker/webhooks/cli.ts");
      const dispatcher = startWebhookDispatcher(database, logger, { config: webhooks });
      stops.unshift(() => dispatcher.stop());
    }
    if (options.janitor) {
      const janitor = startJanitor({ db: database.db, blobs, options: options.janitor, logger });
      stops.unshift(() => janitor.stop());
    }
    if (options.worker) {
      const { startWorker } = await import("../gpu-worker/worker/worker.ts");
      // The job change feed wakes the idle worker when a job is enqueued: no poll interval between submit and claim.
      const changes = watchJobChanges(database, logger);
      const running = startWorker({ ...options.worker, db: database.db, blobs, logger, queue, changes });
      worker = running;
      stops.unshift(async () => {
        await running.stop();
        await changes.close();
      });
    }
  } catch (error) {
    for (const stop of stops) await stop();
    throw error;
  }
  return {
    app,
    queue,
    database,
    blobs,
    url,
    worker,
    async close() {
      try {
        for (const stop of stops) await stop();
      } finally {
        await database.close();
      }
    },
  };
}
