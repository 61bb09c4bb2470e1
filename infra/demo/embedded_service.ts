/**
 * The embedded service for the demo, in this process: the real API (api/app.ts) on a loopback port, PGlite in
 * memory, a local blob directory and the in-process worker (gpu-worker/worker/worker.ts) — the pieces `profs serve`
 * runs — with one freshly minted API key for the `default` tenant, so a demo run leaves no state behind but its
 * output folder. It composes the pieces itself instead of calling api/cli/server.ts's `startServer`, which
 * reads DATABASE_URL and PROFS_DATA_DIR from the environment: the demo must never touch a user's database.
 */
import { join } from "node:path";
import { createApp } from "../../api/app.ts";
import { DEFAULT_CONFIG } from "../../api/deps.ts";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import type { BackendName } from "../../gpu-worker/profs/select.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { MEMORY_DATA_DIR, openDatabase } from "../../shared/db/connection.ts";
import { DEFAULT_TENANT, ensureTenant } from "../../shared/db/repositories/tenants.ts";
import type { Logger } from "../../shared/log.ts";

export interface EmbeddedService {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

export async function startEmbeddedService(options: {
  blobDir: string;
  backend: BackendName;
  logger: Logger;
}): Promise<EmbeddedService> {
  const database = await openDatabase({ dataDir: MEMORY_DATA_DIR });
  try {
    const blobs = await createLocalBlobStore(join(options.blobDir));
    const tenant = await ensureTenant(database.db, DEFAULT_TENANT);
    const apiKey = `demo-${crypto.randomUUID()}`;
    const app = createApp({
      database,
      blobs,
      logger: options.logger,
      config: DEFAULT_CONFIG,
      verifyKey: (key) =>
        Promise.resolve(key === apiKey ? { tenantId: tenant.id, keyId: "demo", scopes: ["*"] } : null),
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const worker = startWorker({
      db: database.db,
      blobs,
      logger: options.logger,
      backend: options.backend,
      pollMs: 100,
      progressIntervalMs: 200,
    });
    return {
      url: `http://127.0.0.1:${server.addr.port}`,
      apiKey,
      async close() {
        await worker.stop();
        await server.shutdown();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
