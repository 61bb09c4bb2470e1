/**
 * A client generated from /openapi.json at test time (openapi-typescript + openapi-fetch, as outside users make
 * one) drives the whole lifecycle against the service served over HTTP with its in-process worker (cpu backend,
 * a tiny GPT-2) and webhook dispatcher: the program (client_lifecycle_program.ts) must type-check against the
 * generated types (`deno check`: a compile error fails the test), then runs, and every response it gets — status,
 * headers, content type, body — and every webhook the service sends is checked against the document by a JSON
 * Schema 2020-12 validator (tests/helpers/openapi_responses.ts). Every operation of the document must be driven.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { openApiChecker } from "../helpers/openapi_responses.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { startReceiver } from "../webhooks/receiver.ts";
import { pairsJsonl } from "../worker/harness.ts";
import { LIFECYCLE_PROGRAM } from "./client_lifecycle_program.ts";
import { createHarness, json } from "./harness.ts";

/** Binary bodies as Blob, as openapi-typescript's documentation shows for `format: binary`. */
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier("Blob"));

Deno.test("a client generated from /openapi.json type-checks and drives the whole lifecycle, every answer as documented", async () => {
  const receiver = startReceiver();
  const h = await createHarness({
    listen: { host: "127.0.0.1", port: 0 },
    worker: { backend: "cpu", pollMs: 20, heartbeatMs: 100, leaseMs: 60_000, progressIntervalMs: 0 },
    dispatcher: true,
    webhooks: { allowlist: parseAllowlist("127.0.0.1"), timeoutMs: 5_000 },
  });
  const dir = await Deno.makeTempDir({
    dir: fileURLToPath(new URL(".", import.meta.url)),
    prefix: ".generated-",
  });
  try {
    const doc = await json(await h.app.request("/openapi.json"));
    const types = await openapiTS(doc as never, {
      transform: (schema) => schema.format === "binary" ? BLOB : undefined,
    });
    await Deno.writeTextFile(join(dir, "schema.d.ts"), astToString(types));
    await Deno.writeTextFile(join(dir, "program.ts"), LIFECYCLE_PROGRAM);
    const deno = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
    const checked = await new Deno.Command(deno, {
      args: ["check", join(dir, "program.ts")],
      stderr: "piped",
    })
      .output();
    assert.equal(checked.code, 0, new TextDecoder().decode(checked.stderr));

    const checker = openApiChecker(doc);
    const checks: Promise<{ problems: string[]; covered?: string }>[] = [];
    const modelDir = join(dir, "model");
    await writeTinyGpt2(modelDir, { layers: 2, hidden: 24 });
    const baseCardBody = "# Tiny GPT-2\n\nA test model of acme's.\n";
    await Deno.writeTextFile(
      join(modelDir, "README.md"),
      `---\nlicense: mit\nbase_model: acme/tiny-gpt2\nlanguage:\n- en\n---\n\n${baseCardBody}`,
    );
    const program = await import(join(dir, "program.ts"));
    await program.lifecycle({
      baseUrl: h.url,
      key: h.keyA.Authorization.slice("Bearer ".length),
      fetch: async (request: Request) => {
        const response = await fetch(request);
        checks.push(checker.checkResponse(request.method, request.url, response));
        return response;
      },
      modelFiles: [...Deno.readDirSync(modelDir)].map((e) => ({
        name: e.name,
        bytes: Deno.readFileSync(join(modelDir, e.name)),
      })),
      pairs: pairsJsonl(6),
      prompts: ["the weather today is", "my neighbour said"].map((text) => JSON.stringify({ text })).join(
        "\n",
      ),
      baseCardBody,
      receiverUrl: receiver.url,
      received: () => receiver.requests,
      waitFor: <T>(probe: () => Promise<T | false | undefined>, what: string) =>
        waitFor(probe, { deadline: 120_000, intervalMs: 50, message: what }),
    });

    const results = await Promise.all(checks);
    const problems = results.flatMap((r) => r.problems);
    for (const request of receiver.requests) {
      problems.push(...checker.checkWebhook(JSON.parse(request.body).type, request.headers, request.body));
    }
    assert.deepEqual(problems, [], problems.join("\n"));

    // The lifecycle reaches every operation of the document (a new route needs a step in the program).
    const covered = new Set(results.map((r) => r.covered?.replace(/ \d+$/, "")));
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    assert.deepEqual(
      operations.filter((o) => !covered.has(o)),
      [],
      "operations the lifecycle does not drive",
    );
    const statuses = new Set(results.map((r) => r.covered?.replace(/^.* /, "")));
    for (const status of ["200", "201", "202", "204", "206", "304", "401", "404", "409", "416", "422"]) {
      assert.ok(statuses.has(status), `a ${status} answer was checked`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await h.close();
    await receiver.close();
  }
});

Deno.test("the document checker flags an undeclared status, header, content type or body, and a bad webhook", async () => {
  const h = await createHarness();
  try {
    const checker = openApiChecker(await json(await h.app.request("/openapi.json")));
    const url = "http://profs.test/v1/edits/e1";
    const answer = (status: number, body: string, headers: Record<string, string>) =>
      checker.checkResponse("GET", url, new Response(body, { status, headers }));
    const problem = JSON.stringify({
      type: "/docs#problem-not-found",
      title: "Not Found",
      status: 404,
      detail: "no edit e1",
      request_id: "r",
    });
    const ok = await answer(404, problem, {
      "Content-Type": "application/problem+json",
      "X-Request-Id": "r",
    });
    assert.deepEqual(ok, { problems: [], covered: "GET /v1/edits/{id} 404" });
    const cases: [Promise<{ problems: string[] }>, RegExp][] = [
      [answer(418, problem, { "Content-Type": "application/problem+json" }), /status not declared/],
      [
        answer(404, problem, { "Content-Type": "application/problem+json", "X-Secret": "1" }),
        /header x-secret is sent but not declared/,
      ],
      [answer(404, problem, { "Content-Type": "text/plain" }), /Content-Type text\/plain is not declared/],
      [
        answer(200, JSON.stringify({ id: 1 }), { "Content-Type": "application/json" }),
        /body .* must have required/,
      ],
      [checker.checkResponse("PATCH", url, new Response(null, { status: 405 })), /no such operation/],
    ];
    for (const [check, expected] of cases) assert.match((await check).problems.join("\n"), expected);
    const event = JSON.stringify({ type: "edit.succeeded", timestamp: "yesterday", data: {} });
    const webhook = checker.checkWebhook(
      "edit.succeeded",
      new Headers({ "content-type": "application/json" }),
      event,
    )
      .join("\n");
    assert.match(webhook, /required header webhook-signature is missing/);
    assert.match(webhook, /timestamp must match format "date-time"/);
    assert.match(webhook, /data must have required property 'id'/);
  } finally {
    await h.close();
  }
});
