/**
 * The server half of hostile_bench.ts, in its own process so its RSS and CPU can be read from /proc: the real
 * app on a real listener over PGlite (in memory) and a local blob store, the limits of DEFAULT_CONFIG (or the
 * environment's), two tenants with a key and one queued edit each (no worker: the edits stay open for event
 * streams), and a model to upload into. Prints `READY <port> <keyA> <keyB> <jobA> <jobB> <modelA>`.
 */
import { configFromEnv } from "../../api/deps.ts";
import { composeService } from "../../infra/compose.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { createModel } from "../../shared/db/repositories/models.ts";
import { createJobQueue, MEMORY_DATA_DIR, openDatabase } from "../../shared/db/index.ts";
import { cachedVerifier } from "../../api/key_cache.ts";
import { createApiKey, keyVerifier } from "../../api/auth/index.ts";
import { createLogger } from "../../shared/log.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

const database = await openDatabase({ dataDir: MEMORY_DATA_DIR });
const blobDir = await Deno.makeTempDir({ prefix: "profs-hostile-" });
const queue = createJobQueue({ onFinish: notifyJobFinished });
const tenants = [];
for (const name of ["a", "b"]) {
  const { key, apiKey } = await createApiKey(database.db, {
    tenant: `hostile-${name}-${crypto.randomUUID().slice(0, 8)}`,
  });
  const job = await queue.enqueue(database.db, {
    tenantId: apiKey.tenantId,
    kind: "edit",
    params: { rank: 2 },
  });
  tenants.push({ key, job: job.id, tenantId: apiKey.tenantId });
}
const model = await createModel(database.db, tenants[0].tenantId, { name: "raced" });
const service = await composeService({
  database,
  blobs: await createLocalBlobStore(blobDir),
  logger: createLogger({ write: () => {} }),
  config: configFromEnv(),
  verifyKey: cachedVerifier(keyVerifier(database.db)),
  listen: { host: "127.0.0.1", port: 0 },
});
console.log(
  `READY ${new URL(service.url!).port} ${tenants[0].key} ${tenants[1].key} ${tenants[0].job} ${
    tenants[1].job
  } ${model.id}`,
);

const stop = async () => {
  await service.close();
  await Deno.remove(blobDir, { recursive: true });
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
