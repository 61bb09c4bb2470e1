import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import {
  generateMessageId,
  generateSecret,
  signWebhook,
  verifyWebhook,
  WebhookSignatureError,
} from "../../shared/webhooks/signature.ts";

// The test vector every Standard Webhooks reference library checks ("sign function works").
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: new Date(1614265330 * 1000),
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

function asHeaders(record: Record<string, string>): Headers {
  return new Headers(record);
}

Deno.test("signWebhook reproduces the Standard Webhooks reference test vector", async () => {
  const headers = await signWebhook(VECTOR, [VECTOR.secret]);
  assert.equal(headers["webhook-signature"], VECTOR.signature);
  assert.equal(headers["webhook-id"], VECTOR.id);
  assert.equal(headers["webhook-timestamp"], "1614265330");
});

Deno.test("verifyWebhook accepts the reference test vector at its own time", async () => {
  const verified = await verifyWebhook(
    {
      headers: asHeaders({
        "webhook-id": VECTOR.id,
        "webhook-timestamp": "1614265330",
        "webhook-signature": VECTOR.signature,
      }),
      body: VECTOR.body,
    },
    VECTOR.secret,
    { now: VECTOR.timestamp },
  );
  assert.equal(verified.id, VECTOR.id);
  assert.equal(verified.timestamp.getTime(), VECTOR.timestamp.getTime());
});

Deno.test("a signature made here verifies with the standardwebhooks npm package", async () => {
  const secret = generateSecret();
  const body = JSON.stringify({ type: "edit.succeeded", data: { id: "edit_1" } });
  const headers = await signWebhook({ id: generateMessageId(), timestamp: new Date(), body }, [secret]);
  const payload = new Webhook(secret).verify(body, { ...headers });
  assert.deepEqual(payload, JSON.parse(body));
});

Deno.test("a signature made by the standardwebhooks npm package verifies here", async () => {
  const secret = generateSecret();
  const now = new Date();
  const body = '{"dataset_id":"ds_1"}';
  const id = generateMessageId();
  const signature = new Webhook(secret).sign(id, now, body);
  const headers = asHeaders({
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": signature,
  });
  assert.equal((await verifyWebhook({ headers, body }, secret, { now })).id, id);
});

Deno.test("during a rotation both secrets sign and the package accepts either", async () => {
  const [current, previous] = [generateSecret(), generateSecret()];
  const body = "{}";
  const headers = await signWebhook({ id: "msg_rot", timestamp: new Date(), body }, [current, previous]);
  assert.equal(headers["webhook-signature"].split(" ").length, 2);
  new Webhook(current).verify(body, { ...headers });
  new Webhook(previous).verify(body, { ...headers });
  assert.throws(() => new Webhook(generateSecret()).verify(body, { ...headers }));
});

Deno.test("verifyWebhook refuses a tampered body, a wrong secret and a truncated signature", async () => {
  const secret = generateSecret();
  const now = new Date(1_700_000_000_000);
  const signed = await signWebhook({ id: "msg_a", timestamp: now, body: '{"a":1}' }, [secret]);
  const headers = asHeaders({ ...signed });
  await verifyWebhook({ headers, body: '{"a":1}' }, secret, { now });
  await assert.rejects(verifyWebhook({ headers, body: '{"a":2}' }, secret, { now }), WebhookSignatureError);
  await assert.rejects(
    verifyWebhook({ headers, body: '{"a":1}' }, generateSecret(), { now }),
    WebhookSignatureError,
  );
  const truncated = asHeaders({ ...signed, "webhook-signature": signed["webhook-signature"].slice(0, 10) });
  await assert.rejects(
    verifyWebhook({ headers: truncated, body: '{"a":1}' }, secret, { now }),
    WebhookSignatureError,
  );
  const otherVersion = asHeaders({
    ...signed,
    "webhook-signature": signed["webhook-signature"].replace("v1,", "v2,"),
  });
  await assert.rejects(
    verifyWebhook({ headers: otherVersion, body: '{"a":1}' }, secret, { now }),
    WebhookSignatureError,
  );
});

Deno.test("verifyWebhook refuses an id re-signed with another id (the id is part of the signed content)", async () => {
  const secret = generateSecret();
  const now = new Date(1_700_000_000_000);
  const signed = await signWebhook({ id: "msg_a", timestamp: now, body: "{}" }, [secret]);
  const swapped = asHeaders({ ...signed, "webhook-id": "msg_b" });
  await assert.rejects(
    verifyWebhook({ headers: swapped, body: "{}" }, secret, { now }),
    WebhookSignatureError,
  );
});

Deno.test("verifyWebhook accepts a timestamp exactly 300 s away and refuses one 301 s away, both sides", async () => {
  const secret = generateSecret();
  const sent = new Date(1_700_000_000_000);
  const body = "{}";
  const headers = asHeaders({ ...(await signWebhook({ id: "msg_t", timestamp: sent, body }, [secret])) });
  const at = (offsetSeconds: number) => ({ now: new Date(sent.getTime() + offsetSeconds * 1000) });
  await verifyWebhook({ headers, body }, secret, at(300));
  await verifyWebhook({ headers, body }, secret, at(-300));
  await assert.rejects(verifyWebhook({ headers, body }, secret, at(301)), /old/);
  await assert.rejects(verifyWebhook({ headers, body }, secret, at(-301)), /future/);
});

Deno.test("verifyWebhook refuses missing headers and a non-numeric timestamp", async () => {
  const secret = generateSecret();
  const now = new Date();
  const full = await signWebhook({ id: "msg_h", timestamp: now, body: "" }, [secret]);
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"] as const) {
    const partial: Record<string, string> = { ...full };
    delete partial[name];
    await assert.rejects(
      verifyWebhook({ headers: asHeaders(partial), body: "" }, secret, { now }),
      WebhookSignatureError,
      name,
    );
  }
  const bad = asHeaders({ ...full, "webhook-timestamp": "1e9" });
  await assert.rejects(verifyWebhook({ headers: bad, body: "" }, secret, { now }), /integer Unix seconds/);
});

Deno.test("generateSecret gives distinct whsec_ secrets of 32 bytes; message ids never contain a dot", () => {
  const secrets = new Set(Array.from({ length: 50 }, generateSecret));
  assert.equal(secrets.size, 50);
  for (const secret of secrets) {
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(atob(secret.slice(6)).length, 32);
  }
  assert.match(generateMessageId(), /^msg_[0-9a-f]{32}$/);
});

Deno.test("signWebhook refuses an id containing '.', which would make the signed content ambiguous", async () => {
  await assert.rejects(
    signWebhook({ id: "msg.1", timestamp: new Date(), body: "" }, [generateSecret()]),
    /'\.'/,
  );
});
