/**
 * The server half of api_load_bench.ts, in its own process so the load generator does not share its thread:
 * the real app on a real listener, over PGlite (no argument) or a Postgres server (`--url URL`), with one
 * tenant, one real API key and JOBS edit jobs, plus TENANTS more tenants with JOBS / TENANTS jobs and a key each.
 * Prints `TENANTS <json [{key, ids}]>`, then `READY <port> <api key> <id,id,…>` once it listens.
 *
 * The line `CHURN START` on stdin starts a writer that changes the first tenant's jobs as workers running them
 * would (a progress update of each job once a second: CHURN_BATCH jobs every CHURN_EVERY_MS, one statement);
 * `CHURN STOP` stops it and prints `CHURNED <updates>`. (Not signals: SIGUSR1 opens Deno's inspector.)
 */
import { parseArgs } from "node:util";
import { createApp } from "../../api/app.ts";
import { DEFAULT_CONFIG } from "../../api/deps.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import { inArray } from "drizzle-orm";
import { createJobQueue, jobs, MEMORY_DATA_DIR, openDatabase } from "../../shared/db/index.ts";
import { cachedVerifier } from "../../api/key_cache.ts";
import { createApiKey, keyVerifier } from "../../api/auth/index.ts";
import { createLogger } from "../../shared/log.ts";
import { TextLineStream } from "./text_lines.ts";

const { values } = parseArgs({ args: Deno.args, options: { url: { type: "string" } } });
const database = await openDatabase(values.url ? { url: values.url } : { dataDir: MEMORY_DATA_DIR });
const blobDir = await Deno.makeTempDir({ prefix: "profs-bench-" });
const { key, apiKey } = await createApiKey(database.db, {
  tenant: `bench-${crypto.randomUUID().slice(0, 8)}`,
});
const JOBS = 200;
const TENANTS = 50;
const queue = createJobQueue();
const enqueue = async (tenantId: string, seed: number) =>
  (await queue.enqueue(database.db, {
    tenantId,
    kind: "edit",
    params: { rank: 2, centering: true, max_pairs: 500, seed, max_tokens: 128, layers: { from: 10, to: 24 } },
  })).id;
const ids: string[] = [];
for (let i = 0; i < JOBS; i++) ids.push(await enqueue(apiKey.tenantId, i));
const tenants: { key: string; ids: string[] }[] = [];
for (let t = 0; t < TENANTS; t++) {
  const created = await createApiKey(database.db, {
    tenant: `bench-${crypto.randomUUID().slice(0, 8)}-${t}`,
  });
  const own: string[] = [];
  for (let i = 0; i < JOBS / TENANTS; i++) own.push(await enqueue(created.apiKey.tenantId, i));
  tenants.push({ key: created.key, ids: own });
}
console.log(`TENANTS ${JSON.stringify(tenants)}`);
const app = createApp({
  database,
  blobs: await createLocalBlobStore(blobDir),
  // Lines are formatted as in production and then dropped, so the log's cost is measured, not the terminal's.
  logger: createLogger({ write: () => {} }),
  config: DEFAULT_CONFIG,
  // As `profs serve` and `profs api` authenticate: the key table behind a short cache.
  verifyKey: cachedVerifier(keyVerifier(database.db)),
});
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
console.log(`READY ${server.addr.port} ${key} ${ids.join(",")}`);

const CHURN_EVERY_MS = 100;
const CHURN_BATCH = 20;
let churn: ReturnType<typeof setInterval> | undefined;
let churned = 0;
const commands = async () => {
  for await (
    const line of Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
  ) {
    if (line === "CHURN START") {
      let next = 0;
      churn ??= setInterval(async () => {
        const batch = ids.slice(next, next + CHURN_BATCH);
        next = (next + CHURN_BATCH) % ids.length;
        const progress = { stage: "embedding", done: churned % 500, total: 500 };
        await database.db.update(jobs).set({ progress }).where(inArray(jobs.id, batch));
        churned += batch.length;
      }, CHURN_EVERY_MS);
    } else if (line === "CHURN STOP") {
      clearInterval(churn);
      churn = undefined;
      console.log(`CHURNED ${churned}`);
    }
  }
};
commands();

const stop = async () => {
  await server.shutdown();
  await database.close();
  await Deno.remove(blobDir, { recursive: true });
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
