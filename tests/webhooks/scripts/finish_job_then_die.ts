/**
 * Child process for the outbox crash test: in the embedded database at Deno.args[0], registers an endpoint
 * (Deno.args[1]) for a tenant, runs an edit job through the queue to success — the outbox row is written in that
 * same transaction — and then kills itself with SIGKILL before any dispatcher could send anything. Prints the
 * job id first.
 */
import { openDatabase } from "../../../shared/db/connection.ts";
import { createJobQueue } from "../../../shared/db/queue.ts";
import { tenants, webhookEndpoints } from "../../../shared/db/schema.ts";
import { notifyJobFinished } from "../../../shared/webhooks/events.ts";

const [dataDir, url, secret] = Deno.args;
const { db } = await openDatabase({ dataDir });
const [tenant] = await db.insert(tenants).values({ name: "crash" }).returning();
await db.insert(webhookEndpoints).values({ tenantId: tenant.id, url, events: ["edit.succeeded"], secret });
const queue = createJobQueue({ onFinish: notifyJobFinished });
const job = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} });
const claim = await queue.claim(db, { owner: "doomed", leaseMs: 60_000 });
if (!claim || claim.job.id !== job.id) throw new Error("the job was not claimed");
if (!await queue.complete(db, claim.lease, { result: { layers: [] } })) {
  throw new Error("complete lost its lease");
}
console.log(job.id);
Deno.kill(Deno.pid, "SIGKILL");
