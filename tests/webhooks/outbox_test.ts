import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { dispatchOnce } from "../../gpu-worker/webhooks/dispatcher.ts";
import { openDatabase } from "../../shared/db/connection.ts";
import { createJobQueue } from "../../shared/db/queue.ts";
import { jobs, webhookDeliveries } from "../../shared/db/schema.ts";
import { silentLogger } from "../../shared/log.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import {
  jobWebhookEventType,
  jobWebhookPayload,
  notifyJobFinished,
  type WebhookEventPayload,
} from "../../shared/webhooks/events.ts";
import { generateSecret } from "../../shared/webhooks/signature.ts";
import { createEndpoint, createTenant, openTestDatabase } from "./db_fixtures.ts";
import { startReceiver } from "./receiver.ts";

Deno.test("a process killed right after a job succeeds still gets its edit.succeeded delivered", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-outbox-crash-" });
  const receiver = startReceiver();
  const secret = generateSecret();
  try {
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./scripts/finish_job_then_die.ts", import.meta.url).pathname,
        dataDir,
        `${receiver.url}/hook`,
        secret,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(child.signal, "SIGKILL", new TextDecoder().decode(child.stderr));
    const jobId = new TextDecoder().decode(child.stdout).trim();
    assert.equal(receiver.requests.length, 0, "the child sent nothing before dying");

    const database = await openDatabase({ dataDir });
    try {
      const [job] = await database.db.select().from(jobs).where(eq(jobs.id, jobId));
      assert.equal(job.status, "succeeded");
      const report = await dispatchOnce({
        db: database.db,
        logger: silentLogger,
        owner: "survivor",
        allowlist: parseAllowlist("127.0.0.1"),
        publicUrl: "https://profs.example",
      }, { now: new Date() });
      assert.equal(report.delivered, 1);
      const received = receiver.requests[0];
      const payload = new Webhook(secret).verify(
        received.body,
        Object.fromEntries(received.headers),
      ) as WebhookEventPayload;
      assert.equal(payload.type, "edit.succeeded");
      assert.equal(payload.data.id, jobId);
      assert.equal(payload.data.links.self, `https://profs.example/v1/edits/${jobId}`);
      assert.ok(received.body.length < 1024, `payload is small: ${received.body.length} bytes`);
    } finally {
      await database.close();
    }
  } finally {
    await receiver.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("failed and canceled jobs announce themselves; only subscribed, enabled endpoints get a row", async () => {
  const { db, close } = await openTestDatabase();
  try {
    const tenant = await createTenant(db);
    const other = await createTenant(db);
    const all = await createEndpoint(db, tenant, "https://93.184.215.14/all");
    const onlySucceeded = await createEndpoint(db, tenant, "https://93.184.215.14/ok", ["edit.succeeded"]);
    await createEndpoint(db, other, "https://93.184.215.14/other");
    const queue = createJobQueue({ onFinish: notifyJobFinished, random: () => 0 });

    const failing = await queue.enqueue(db, { tenantId: tenant, kind: "edit", params: {}, maxAttempts: 1 });
    const claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
    assert.equal(await queue.fail(db, claim.lease, { error: "bad model", retryable: false }), "failed");
    const queued = await queue.enqueue(db, { tenantId: tenant, kind: "edit", params: {} });
    await queue.requestCancel(db, tenant, queued.id);

    const rows = await db.select().from(webhookDeliveries);
    assert.deepEqual(
      rows.map((r) => [r.endpointId, r.eventType]).sort(),
      [
        [all.id, "edit.canceled"],
        [all.id, "edit.failed"],
      ].sort(),
    );
    const failed = rows.find((r) => r.eventType === "edit.failed")!.payload as WebhookEventPayload;
    assert.equal(failed.data.id, failing.id);
    assert.equal(failed.data.error, "bad model");
    assert.equal(rows.some((r) => r.endpointId === onlySucceeded.id), false);
  } finally {
    await close();
  }
});

Deno.test("when the state change rolls back, its outbox row rolls back with it", async () => {
  const { db, close } = await openTestDatabase();
  try {
    const tenant = await createTenant(db);
    await createEndpoint(db, tenant, "https://93.184.215.14/all");
    const queue = createJobQueue({
      onFinish: async (tx, job) => {
        await notifyJobFinished(tx, job);
        throw new Error("crash after the outbox write, before commit");
      },
    });
    await queue.enqueue(db, { tenantId: tenant, kind: "edit", params: {} });
    const claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
    await assert.rejects(queue.complete(db, claim.lease, { result: {} }), /crash after the outbox write/);
    assert.equal((await db.select().from(webhookDeliveries)).length, 0);
    const [job] = await db.select().from(jobs);
    assert.equal(job.status, "running", "neither the state change nor its notification happened");
  } finally {
    await close();
  }
});

Deno.test("jobWebhookEventType maps terminal edit and tune states to edit.* and tune.*, any finished check to check.completed", () => {
  const cases: [Parameters<typeof jobWebhookEventType>[0], string | null][] = [
    [{ kind: "edit", status: "succeeded" }, "edit.succeeded"],
    [{ kind: "edit", status: "failed" }, "edit.failed"],
    [{ kind: "edit", status: "canceled" }, "edit.canceled"],
    [{ kind: "edit", status: "running" }, null],
    [{ kind: "edit", status: "queued" }, null],
    [{ kind: "check", status: "succeeded" }, "check.completed"],
    [{ kind: "check", status: "failed" }, "check.completed"],
    [{ kind: "check", status: "running" }, null],
    [{ kind: "tune", status: "succeeded" }, "tune.succeeded"],
    [{ kind: "tune", status: "failed" }, "tune.failed"],
    [{ kind: "tune", status: "canceled" }, "tune.canceled"],
    [{ kind: "tune", status: "running" }, null],
  ];
  for (const [job, expected] of cases) assert.equal(jobWebhookEventType(job), expected, JSON.stringify(job));
  // A tune's payload links to itself, and on success to the chosen edit's patch and report and to tune.json.
  const tune = { id: "t1", kind: "tune" as const, status: "succeeded" as const, error: null };
  assert.deepEqual(jobWebhookPayload(tune, "tune.succeeded", new Date(0)).data, {
    id: "t1",
    object: "tune",
    status: "succeeded",
    links: {
      self: "/v1/tunes/t1",
      patch: "/v1/tunes/t1/artifacts/patch.safetensors",
      report: "/v1/tunes/t1/artifacts/report.json",
      tune: "/v1/tunes/t1/artifacts/tune.json",
    },
  });
  const failed = { ...tune, status: "failed" as const, error: "Cannot tune as …" };
  assert.deepEqual(jobWebhookPayload(failed, "tune.failed", new Date(0)).data, {
    id: "t1",
    object: "tune",
    status: "failed",
    error: "Cannot tune as …",
    links: { self: "/v1/tunes/t1" },
  });
});

Deno.test("a queue given notifyJobFinished writes the outbox row as it finishes a job (the hook is required)", async () => {
  // @ts-expect-error: onFinish is required, so no process can build a queue that forgets the outbox
  const forgetful = () => createJobQueue({});
  assert.equal(typeof forgetful, "function");
  const { db, close } = await openTestDatabase();
  try {
    const tenant = await createTenant(db);
    await createEndpoint(db, tenant, "https://93.184.215.14/all");
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const job = await queue.enqueue(db, { tenantId: tenant, kind: "edit", params: {} });
    const claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
    assert.ok(await queue.complete(db, claim.lease, { result: {} }));
    const [row] = await db.select().from(webhookDeliveries);
    assert.equal(row.eventType, "edit.succeeded");
    assert.equal((row.payload as WebhookEventPayload).data.id, job.id);
  } finally {
    await close();
  }
});
