import assert from "node:assert/strict";
import { createJobQueue } from "../../shared/db/index.ts";
import { createHarness, json, storedKeys } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

Deno.test("healthz, readyz and metrics answer without a key; metrics counts requests and jobs", async () => {
  const h = await createHarness();
  try {
    const health = await h.app.request("/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    assert.match(health.headers.get("X-Request-Id") ?? "", /^[\w-]{8,}$/);

    const ready = await h.app.request("/readyz");
    assert.equal(ready.status, 200);

    const metrics = await h.app.request("/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("Content-Type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    assert.match(text, /profs_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1\n/);
    assert.match(text, /# TYPE profs_jobs gauge/);
    assert.match(text, /# TYPE profs_job_duration_seconds histogram/);
  } finally {
    await h.close();
  }
});

Deno.test("readyz is 503 problem+json once the database is gone", async () => {
  const h = await createHarness();
  await h.database.close();
  try {
    const ready = await h.app.request("/readyz");
    assert.equal(ready.status, 503);
    assert.equal(ready.headers.get("Content-Type"), "application/problem+json");
    const body = await ready.json();
    assert.equal(body.type, "/docs#problem-service-unavailable");
    assert.equal(body.request_id, ready.headers.get("X-Request-Id"));
  } finally {
    await Deno.remove(h.blobDir, { recursive: true });
  }
});

Deno.test("a client's X-Request-Id is kept and echoed; a malformed one is replaced", async () => {
  const h = await createHarness();
  try {
    const kept = await h.app.request("/healthz", { headers: { "X-Request-Id": "trace-abc_123" } });
    assert.equal(kept.headers.get("X-Request-Id"), "trace-abc_123");
    const replaced = await h.app.request("/healthz", { headers: { "X-Request-Id": "bad id with spaces" } });
    assert.notEqual(replaced.headers.get("X-Request-Id"), "bad id with spaces");
    assert.ok(
      h.logs.some((l) => JSON.parse(l).request_id === "trace-abc_123"),
      "the access log carries the id",
    );
  } finally {
    await h.close();
  }
});

Deno.test("openapi.json is OpenAPI 3.1 with every v1 route, bearer auth and shared schemas", async () => {
  const h = await createHarness();
  try {
    const response = await h.app.request("/openapi.json");
    assert.equal(response.status, 200);
    const doc = await response.json();
    assert.equal(doc.openapi, "3.1.0");
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    for (
      const expected of [
        "POST /v1/models",
        "PUT /v1/models/{id}/files/{filename}",
        "POST /v1/models/{id}/finalize",
        "GET /v1/models/{id}",
        "GET /v1/models",
        "DELETE /v1/models/{id}",
        "POST /v1/datasets",
        "GET /v1/datasets/{id}",
        "GET /v1/datasets",
        "DELETE /v1/datasets/{id}",
        "POST /v1/edits",
        "GET /v1/edits/{id}",
        "GET /v1/edits",
        "POST /v1/edits/{id}/cancel",
        "GET /v1/edits/{id}/events",
        "GET /v1/edits/{id}/artifacts/{name}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
      ]
    ) assert.ok(routes.includes(expected), `${expected} in ${routes.join(", ")}`);
    assert.equal(doc.components.securitySchemes.apiKey.scheme, "bearer");
    for (const schema of ["EditParams", "Edit", "Model", "Dataset", "ProblemDetails", "JobEvent"]) {
      assert.ok(doc.components.schemas[schema], `schema ${schema}`);
    }
    // Request schemas carry their defaults in the description (api/openapi.ts: a `default` would make generated
    // clients require the field), and a defaulted field is optional.
    assert.match(doc.components.schemas.EditParams.properties.rank.description, /default 2/);
    assert.ok(!(doc.components.schemas.EditParams.required ?? []).includes("rank"));
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) =>
      m[1]
    );
    assert.ok(refs.length > 10);
    for (const ref of new Set(refs)) assert.ok(doc.components.schemas[ref], `$ref ${ref} resolves`);
    for (
      const [path, ops] of Object.entries(
        doc.paths as Record<string, Record<string, Record<string, unknown>>>,
      )
    ) {
      if (!/^\/v1\/(models|datasets|edits)/.test(path)) continue;
      for (const [method, op] of Object.entries(ops)) {
        assert.deepEqual(op.security, [{ apiKey: [] }], `${method} ${path} declares bearer auth`);
        assert.ok((op.responses as Record<string, unknown>)["401"], `${method} ${path} documents 401`);
      }
    }

    const docs = await h.app.request("/docs");
    assert.equal(docs.status, 200);
    const html = await docs.text();
    assert.match(html, /<div id="swagger-ui">/);
    assert.match(html, /src="\/console\/static\/swagger-ui-bundle.js"/);
    assert.match(html, /id="problem-validation-error"/);
    assert.match(docs.headers.get("Content-Security-Policy") ?? "", /script-src 'self'(;|$)/);
  } finally {
    await h.close();
  }
});

Deno.test("an unexpected failure is a logged 500 carrying the request id and no internals", async () => {
  const h = await createHarness();
  await h.database.close();
  try {
    const response = await h.app.request("/v1/models", {
      headers: { ...h.keyA, "X-Request-Id": "req-500-test" },
    });
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("Content-Type"), "application/problem+json");
    const body = await response.json();
    assert.equal(body.type, "/docs#problem-internal-error");
    assert.equal(body.request_id, "req-500-test");
    assert.doesNotMatch(body.detail, /PGlite|closed|stack/i);
    const logged = h.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "unhandled error");
    assert.ok(logged, "the error is logged");
    assert.equal(logged.request_id, "req-500-test");
    assert.equal(logged.level, "error");
    assert.ok(logged.error.stack, "with its stack");
  } finally {
    await Deno.remove(h.blobDir, { recursive: true });
  }
});

Deno.test("a read-only key is refused (403) by every route that writes, and nothing is written", async () => {
  const h = await createHarness();
  try {
    const document = await json(await h.app.request("/openapi.json"));
    const writes: [string, string][] = [];
    type Operation = { security?: unknown[] };
    for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
      for (const [method, operation] of Object.entries(item)) {
        // Routes without API-key security (a trigger's fire call is signed with the trigger's secret instead)
        // are not the key's to refuse; POST /v1/toxicity scores texts and stores nothing: any valid key may.
        if (method === "get" || !operation.security?.length || path === "/v1/toxicity") continue;
        writes.push([method, path]);
      }
    }
    assert.ok(writes.length >= 15, `the document lists the write routes: ${writes.length}`);
    const before = await storedKeys(h);
    for (const [method, path] of writes) {
      const url = path.replace(/\{[^}]+\}/g, (p) => p === "{id}" ? crypto.randomUUID() : "x");
      const response = await h.app.request(url, {
        method: method.toUpperCase(),
        headers: { ...h.readOnlyA, "Content-Type": "application/json" },
        body: "{}",
      });
      const body = await json(response);
      assert.equal(response.status, 403, `${method} ${path}: ${JSON.stringify(body)}`);
      assert.equal(body.type, "/docs#problem-forbidden");
    }
    assert.deepEqual(await storedKeys(h), before);
    assert.deepEqual((await json(await h.app.request("/v1/models", { headers: h.keyA }))).data, []);
    assert.deepEqual((await json(await h.app.request("/v1/edits", { headers: h.keyA }))).data, []);
  } finally {
    await h.close();
  }
});

Deno.test("metrics: job durations (first claim → finish) fall in cumulative buckets with their sum and count", async () => {
  const h = await createHarness();
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const { db } = h.database;
  try {
    const t0 = new Date("2030-01-01T00:00:00Z");
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    // Two edits that ran 10 s and 100 s, one that failed after 2 s (no retries left), one still queued.
    for (const [seconds, outcome] of [[10, "ok"], [100, "ok"], [2, "fail"]] as const) {
      await queue.enqueue(db, {
        tenantId: h.tenantA,
        kind: "edit",
        params: {},
        maxAttempts: 1,
        runAfter: t0,
      });
      const claim = (await queue.claim(db, { owner: "w", leaseMs: 3_600_000, now: at(0) }))!;
      if (outcome === "ok") {
        assert.ok(await queue.complete(db, claim.lease, { result: { ok: true } }, { now: at(seconds) }));
      } else {
        assert.equal(
          await queue.fail(db, claim.lease, { error: "boom", retryable: false }, { now: at(seconds) }),
          "failed",
        );
      }
    }
    await queue.enqueue(db, { tenantId: h.tenantB, kind: "edit", params: {} });
    const text = await (await h.app.request("/metrics")).text();
    const series = (name: string) =>
      text.split("\n").filter((line) => line.startsWith(name)).map((line) => line.slice(name.length));
    assert.deepEqual(series('profs_job_duration_seconds_bucket{kind="edit",status="succeeded",'), [
      'le="1"} 0',
      'le="5"} 0',
      'le="15"} 1',
      'le="60"} 1',
      'le="300"} 2',
      'le="900"} 2',
      'le="3600"} 2',
      'le="14400"} 2',
      'le="86400"} 2',
      'le="+Inf"} 2',
    ]);
    assert.deepEqual(series('profs_job_duration_seconds_sum{kind="edit",status="succeeded"}'), [" 110"]);
    assert.deepEqual(series('profs_job_duration_seconds_count{kind="edit",status="succeeded"}'), [" 2"]);
    assert.deepEqual(series('profs_job_duration_seconds_sum{kind="edit",status="failed"}'), [" 2"]);
    assert.deepEqual(series('profs_jobs{kind="edit",status="queued"}'), [" 1"], "all tenants' jobs");
  } finally {
    await h.close();
  }
});
