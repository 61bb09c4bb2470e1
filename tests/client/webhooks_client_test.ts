/**
 * `profs webhooks` end to end through real HTTP (the composed service on a loopback port, no worker: a fired
 * trigger's edit stays queued): an endpoint created, listed, shown and deleted; a trigger created, fired with
 * its secret (the queued edit checked through `profs edits show`), fired again with the same message id (the
 * same edit), refused with a wrong secret, deleted; bad input fails in one line with a non-zero exit code.
 */
import assert from "node:assert/strict";
import { serveApi, writeInputs } from "../worker/harness.ts";
import { jsonOf, ok, profs, type Ran } from "./run_profs.ts";

// A public address literal: registration needs no DNS, and no worker runs, so nothing is ever sent to it.
const PUBLIC_URL = "https://93.184.215.14/hooks/profs";

function failsInOneLine(ran: Ran, pattern: RegExp): void {
  assert.notEqual(ran.code, 0, `expected a failure:\n${ran.stdout}`);
  assert.equal(ran.stdout, "");
  assert.equal(ran.stderr.split("\n").length, 1, ran.stderr);
  assert.match(ran.stderr, pattern);
}

Deno.test("profs webhooks endpoints: create shows the secret once, list/show, rotate, delete", async () => {
  const s = await serveApi();
  try {
    const created = await ok(s, [
      "webhooks",
      "endpoints",
      "create",
      PUBLIC_URL,
      "--events",
      "edit.succeeded,check.completed",
      "--description",
      "ci",
    ]);
    const id = created.stdout;
    assert.match(created.stderr, /signing secret .*: whsec_[A-Za-z0-9+/=]+$/);
    const secret = created.stderr.match(/whsec_\S+/)![0];

    const listed = jsonOf(await ok(s, ["webhooks", "endpoints", "list", "--json"])).data;
    assert.deepEqual(listed.map((e: { id: string }) => e.id), [id]);
    assert.deepEqual(listed[0].events, ["edit.succeeded", "check.completed"]);
    assert.equal(listed[0].secret, undefined, "the secret is shown at create only");
    const table = (await ok(s, ["webhooks", "endpoints", "list"])).stdout.split("\n");
    assert.match(table[0], /^ID\s+URL\s+EVENTS\s+STATUS\s+CREATED$/);
    assert.ok(table[1].startsWith(`${id}  ${PUBLIC_URL}`), table[1]);
    const shown = (await ok(s, ["webhooks", "endpoints", "show", id])).stdout;
    assert.match(
      shown,
      new RegExp(`^${id}  enabled  ${PUBLIC_URL}\n  events edit.succeeded, check.completed`),
    );
    assert.doesNotMatch(shown, /whsec_/);

    const rotated = jsonOf(await ok(s, ["webhooks", "endpoints", "rotate-secret", id, "--json"]));
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, secret);
    assert.ok(rotated.previous_secret_expires_at, "the old secret co-signs for a while");
    assert.deepEqual(jsonOf(await ok(s, ["webhooks", "endpoints", "deliveries", id, "--json"])).data, []);

    const deleted = await ok(s, ["webhooks", "endpoints", "delete", id]);
    assert.equal(deleted.stderr, `deleted webhook endpoint ${id}`);
    assert.deepEqual(jsonOf(await ok(s, ["webhooks", "endpoints", "list", "--json"])).data, []);
    failsInOneLine(
      await profs(s, ["webhooks", "endpoints", "show", id]),
      /^profs webhooks: GET \/v1\/webhook-endpoints\/\S+ failed with HTTP 404: /,
    );
  } finally {
    await s.close();
  }
});

Deno.test("profs webhooks endpoints: bad input fails in one line, non-zero, and registers nothing", async () => {
  const s = await serveApi();
  try {
    // Refused by the service's SSRF guard (422 problem+json → its detail on one line).
    failsInOneLine(
      await profs(s, [
        "webhooks",
        "endpoints",
        "create",
        "http://127.0.0.1/hook",
        "--events",
        "edit.succeeded",
      ]),
      /^profs webhooks: POST \/v1\/webhook-endpoints failed with HTTP 422: .*127\.0\.0\.1/,
    );
    failsInOneLine(
      await profs(s, ["webhooks", "endpoints", "create", "not a url", "--events", "edit.succeeded"]),
      /failed with HTTP 422/,
    );
    // Checked before the service is asked.
    failsInOneLine(
      await profs(s, ["webhooks", "endpoints", "create", PUBLIC_URL, "--events", "edit.done"]),
      /'--events' must be among edit\.succeeded, .*: current value 'edit\.done' is not$/,
    );
    failsInOneLine(
      await profs(s, ["webhooks", "endpoints", "create", PUBLIC_URL]),
      /'--events' must name at least one of/,
    );
    failsInOneLine(await profs(s, ["webhooks", "endpoints", "frob"]), /action must be one of create, list/);
    assert.deepEqual(jsonOf(await ok(s, ["webhooks", "endpoints", "list", "--json"])).data, []);
  } finally {
    await s.close();
  }
});

Deno.test("profs webhooks triggers: create, fire with the secret (the queued edit), replay, delete", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  try {
    const model = (await ok(s, ["models", "upload", inputs.modelDir, "--name", "tiny"])).stdout;
    const dataset = jsonOf(await ok(s, ["datasets", "upload", inputs.pairsFile, "--json"])).id;
    const trigger = jsonOf(
      await ok(s, [
        "webhooks",
        "triggers",
        "create",
        "--name",
        "nightly",
        "--model",
        model,
        "--dataset",
        dataset,
        "--rank",
        "2",
        "--layers",
        "0:2",
        "--json",
      ]),
    );
    assert.match(trigger.secret, /^whsec_/);
    assert.equal(trigger.template.params.rank, 2);
    const listed = (await ok(s, ["webhooks", "triggers", "list"])).stdout.split("\n");
    assert.equal(listed.length, 2);
    assert.ok(listed[1].startsWith(`${trigger.id}  nightly  ${model}  ${dataset}  -  `), listed[1]);
    const shown = (await ok(s, ["webhooks", "triggers", "show", trigger.id])).stdout;
    assert.match(shown, /rank=2/);
    assert.match(shown, /last fired never/);

    // Fired as a pipeline would: signed with the trigger's secret, one parameter overridden.
    const fire = ["webhooks", "triggers", "fire", trigger.id, "--secret", trigger.secret];
    const fired = await ok(s, [...fire, "--max-tokens", "16", "--message-id", "msg_ci1"]);
    const editId = fired.stdout;
    assert.match(fired.stderr, new RegExp(`trigger ${trigger.id} queued edit ${editId} \\(queued\\)`));
    const edit = jsonOf(await ok(s, ["edits", "show", editId, "--json"]));
    assert.equal(edit.status, "queued");
    assert.equal(edit.model_id, model);
    assert.equal(edit.dataset_id, dataset);
    assert.equal(edit.params.rank, 2, "the template's rank");
    assert.deepEqual(edit.params.layers, trigger.template.params.layers);
    assert.equal(edit.params.max_tokens, 16, "the fire's override");

    const again = jsonOf(await ok(s, [...fire, "--message-id", "msg_ci1", "--json"]));
    assert.deepEqual([again.edit_id, again.replayed], [editId, true], "the same message id: the same edit");
    assert.equal(jsonOf(await ok(s, ["edits", "list", "--json"])).data.length, 1, "nothing more was queued");
    assert.ok(jsonOf(await ok(s, ["webhooks", "triggers", "show", trigger.id, "--json"])).last_fired_at);

    failsInOneLine(
      await profs(s, [
        "webhooks",
        "triggers",
        "fire",
        trigger.id,
        "--secret",
        `whsec_${btoa("x".repeat(32))}`,
      ]),
      /^profs webhooks: POST \/v1\/triggers\/\S+\/fire failed with HTTP 401: /,
    );
    failsInOneLine(
      await profs(s, ["webhooks", "triggers", "fire", trigger.id]),
      /'--secret' .* must be given/,
    );
    failsInOneLine(
      await profs(s, [...fire, "--rank", "0"]),
      /'--rank' must be an integer from 1 to/,
    );

    await ok(s, ["webhooks", "triggers", "delete", trigger.id]);
    assert.deepEqual(jsonOf(await ok(s, ["webhooks", "triggers", "list", "--json"])).data, []);
    failsInOneLine(await profs(s, fire), /fire failed with HTTP 404: /);
    assert.equal(jsonOf(await ok(s, ["edits", "list", "--json"])).data.length, 1, "still the one edit");
  } finally {
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
