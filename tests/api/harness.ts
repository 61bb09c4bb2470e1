/**
 * A real app over a real database (PGlite in memory, or the Postgres server of TEST_DATABASE_URL) and a blob
 * store in a temporary directory (or the one given), with two tenants, A and B, each holding a real API key
 * (api/auth), and a read-only key of A.
 */
import type { ApiConfig } from "../../api/deps.ts";
import { DEFAULT_CONFIG } from "../../api/deps.ts";
import { composeService, type Service, type ServiceOptions } from "../../infra/compose.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { BLOB_ROOTS } from "../../shared/blobs/keys.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";
import { MEMORY_DATA_DIR, openDatabase } from "../../shared/db/connection.ts";
import type { Database } from "../../shared/db/database.ts";
import { createApiKey, keyVerifier } from "../../api/auth/index.ts";
import { createLogger, type Logger } from "../../shared/log.ts";

export interface Harness {
  app: Service["app"];
  queue: Service["queue"];
  database: Database;
  blobs: BlobStore;
  blobDir: string;
  tenantA: string;
  tenantB: string;
  /** Authorization headers */
  keyA: Record<string, string>;
  keyB: Record<string, string>;
  /** tenant A, read scopes only */
  readOnlyA: Record<string, string>;
  logs: string[];
  /** the served address, when `listen` was given */
  url?: string;
  /** the in-process worker, when `worker` was given */
  worker?: Service["worker"];
  close(): Promise<void>;
}

export async function createHarness(
  options: {
    config?: Partial<ApiConfig>;
    url?: string;
    logger?: Logger;
    blobs?: BlobStore;
    /** serve over HTTP too (tests/worker/harness.ts) */
    listen?: ServiceOptions["listen"];
    queue?: ServiceOptions["queue"];
    /** an in-process worker, the webhook dispatcher and their settings (tests/api/generated_client_test.ts) */
    worker?: ServiceOptions["worker"];
    dispatcher?: boolean;
    webhooks?: ServiceOptions["webhooks"];
  } = {},
): Promise<Harness> {
  const database = await openDatabase(options.url ? { url: options.url } : { dataDir: MEMORY_DATA_DIR });
  const blobDir = await Deno.makeTempDir({ prefix: "profs-api-test-" });
  const blobs = options.blobs ?? await createLocalBlobStore(blobDir);
  const suffix = crypto.randomUUID().slice(0, 8);
  const a = await createApiKey(database.db, { tenant: `a-${suffix}` });
  const b = await createApiKey(database.db, { tenant: `b-${suffix}` });
  const readOnly = await createApiKey(database.db, {
    tenant: `a-${suffix}`,
    scopes: ["models:read", "datasets:read", "edits:read"],
  });
  const logs: string[] = [];
  const service = await composeService({
    database,
    blobs,
    logger: options.logger ?? createLogger({ write: (line) => logs.push(line) }),
    config: { ...DEFAULT_CONFIG, ...options.config },
    verifyKey: keyVerifier(database.db),
    listen: options.listen,
    queue: options.queue,
    worker: options.worker,
    dispatcher: options.dispatcher,
    webhooks: options.webhooks,
  });
  const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
  return {
    app: service.app,
    queue: service.queue,
    url: service.url,
    worker: service.worker,
    database,
    blobs,
    blobDir,
    tenantA: a.apiKey.tenantId,
    tenantB: b.apiKey.tenantId,
    keyA: bearer(a.key),
    keyB: bearer(b.key),
    readOnlyA: bearer(readOnly.key),
    logs,
    async close() {
      try {
        await service.close();
      } finally {
        await Deno.remove(blobDir, { recursive: true });
      }
    },
  };
}

/** Every blob key in the store (temporary files excluded). */
export async function storedKeys(h: Harness): Promise<string[]> {
  const out: string[] = [];
  for (const top of BLOB_ROOTS) out.push(...await h.blobs.list(top));
  return out;
}

export async function json(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}
