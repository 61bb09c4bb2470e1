import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { attemptDelivery, decideNext } from "../../gpu-worker/webhooks/attempt.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { generateSecret } from "../../shared/webhooks/signature.ts";
import { startReceiver, unusedPort } from "./receiver.ts";

const LOOPBACK = { allowlist: parseAllowlist("127.0.0.1/32"), timeoutMs: 5_000 };

function request(url: string, secret = generateSecret()) {
  return {
    url,
    secrets: [secret],
    messageId: "msg_0123456789abcdef",
    body: JSON.stringify({ type: "edit.succeeded", data: { id: "edit_1" } }),
    now: new Date(),
  };
}

Deno.test("a delivery to a real receiver carries Standard Webhooks headers that the npm package verifies", async () => {
  const receiver = startReceiver(() => new Response(null, { status: 204 }));
  try {
    const secret = generateSecret();
    const outcome = await attemptDelivery(request(`${receiver.url}/hooks/profs?x=1`, secret), LOOPBACK);
    assert.equal(outcome.status, 204);
    assert.equal(outcome.error, null);
    assert.equal(receiver.requests.length, 1);
    const received = receiver.requests[0];
    assert.equal(received.method, "POST");
    assert.equal(received.path, "/hooks/profs?x=1");
    assert.equal(received.headers.get("content-type"), "application/json");
    assert.equal(received.headers.get("webhook-id"), "msg_0123456789abcdef");
    const payload = new Webhook(secret).verify(received.body, Object.fromEntries(received.headers));
    assert.deepEqual(payload, { type: "edit.succeeded", data: { id: "edit_1" } });
  } finally {
    await receiver.close();
  }
});

Deno.test("a redirect is recorded as its status and never followed", async () => {
  const target = startReceiver();
  const redirecting = startReceiver(() =>
    new Response(null, { status: 307, headers: { location: `${target.url}/stolen` } })
  );
  try {
    const outcome = await attemptDelivery(request(`${redirecting.url}/hook`), LOOPBACK);
    assert.equal(outcome.status, 307);
    assert.equal(redirecting.requests.length, 1);
    assert.equal(target.requests.length, 0);
    assert.equal(decideNext(outcome, 1, new Date(0), 0.5).kind, "retry");
  } finally {
    await Promise.all([target.close(), redirecting.close()]);
  }
});

Deno.test("a loopback receiver that is not allow-listed is refused before any connection", async () => {
  const receiver = startReceiver();
  try {
    for (const host of ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1"]) {
      const outcome = await attemptDelivery(request(`http://${host}:${receiver.port}/hook`), {
        timeoutMs: 5_000,
      });
      assert.equal(outcome.status, null, host);
      assert.match(outcome.error!, /address must be public/, host);
    }
    const viaName = await attemptDelivery(request(`http://localhost:${receiver.port}/hook`), {
      timeoutMs: 5_000,
    });
    assert.match(viaName.error!, /loopback/);
    assert.equal(receiver.requests.length, 0);
  } finally {
    await receiver.close();
  }
});

Deno.test("a receiver that is down gives no status and a connection error", async () => {
  const outcome = await attemptDelivery(request(`http://127.0.0.1:${unusedPort()}/hook`), LOOPBACK);
  assert.equal(outcome.status, null);
  assert.match(outcome.error!, /could not connect/);
});

Deno.test("a receiver slower than the timeout gives a timeout error, not a hang", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const receiver = startReceiver(async () => {
    await held;
    return new Response("late");
  });
  try {
    const outcome = await attemptDelivery(request(`${receiver.url}/slow`), { ...LOOPBACK, timeoutMs: 200 });
    assert.equal(outcome.status, null);
    assert.match(outcome.error!, /timed out after 200 ms/);
    assert.ok(outcome.durationMs >= 190 && outcome.durationMs < 2_000, `duration ${outcome.durationMs}`);
  } finally {
    release();
    await receiver.close();
  }
});

Deno.test("a 429 with Retry-After stretches the next wait; a 410 disables; 2xx delivers; 500 retries", async () => {
  const statuses = [429, 410, 200, 500];
  const receiver = startReceiver(() => {
    const status = statuses.shift()!;
    return new Response(null, { status, headers: status === 429 ? { "retry-after": "3600" } : {} });
  });
  try {
    const now = new Date(0);
    const limited = await attemptDelivery(request(receiver.url), LOOPBACK);
    assert.equal(limited.retryAfterSeconds, 3600);
    assert.deepEqual(decideNext(limited, 1, now, 0.5), { kind: "retry", at: new Date(3600_000) });
    assert.deepEqual(decideNext(await attemptDelivery(request(receiver.url), LOOPBACK), 1, now, 0.5), {
      kind: "disable-endpoint",
    });
    assert.deepEqual(decideNext(await attemptDelivery(request(receiver.url), LOOPBACK), 1, now, 0.5), {
      kind: "delivered",
    });
    const failed = await attemptDelivery(request(receiver.url), LOOPBACK);
    assert.equal(failed.status, 500);
    assert.equal(decideNext(failed, 1, now, 0.5).kind, "retry");
    assert.deepEqual(decideNext(failed, 11, now, 0.5), { kind: "give-up" });
  } finally {
    await receiver.close();
  }
});

const cert = await Deno.readTextFile(new URL("../fixtures/webhooks/hooks_test_cert.pem", import.meta.url));
const key = await Deno.readTextFile(new URL("../fixtures/webhooks/hooks_test_key.pem", import.meta.url));
const testCa = await Deno.readTextFile(new URL("../fixtures/webhooks/ca_cert.pem", import.meta.url));

Deno.test("https: connects to the checked address and verifies the certificate against the URL's host name", async () => {
  const hosts: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} }, (request) => {
    hosts.push(request.headers.get("host"));
    return new Response(null, { status: 204 });
  });
  const port = server.addr.port;
  const resolve = (host: string) =>
    Promise.resolve(host === "hooks.test" || host === "other.test" ? ["127.0.0.1"] : []);
  const policy = { allowlist: parseAllowlist("127.0.0.1/32"), timeoutMs: 5_000, resolve };
  try {
    const ok = await attemptDelivery(request(`https://hooks.test:${port}/in`), {
      ...policy,
      caCerts: [testCa],
    });
    assert.equal(ok.status, 204, ok.error ?? "");
    assert.deepEqual(hosts, [`hooks.test:${port}`]);
    const wrongName = await attemptDelivery(request(`https://other.test:${port}/in`), {
      ...policy,
      caCerts: [testCa],
    });
    assert.equal(wrongName.status, null);
    assert.match(wrongName.error!, /certificate|NotValidForName|name/i);
    const untrusted = await attemptDelivery(request(`https://hooks.test:${port}/in`), policy);
    assert.equal(untrusted.status, null);
    assert.match(untrusted.error!, /certificate|UnknownIssuer/i);
    assert.equal(hosts.length, 1, "nothing reached the server over an unverified connection");
  } finally {
    await server.shutdown();
  }
});
