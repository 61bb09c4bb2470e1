/**
 * `profs webhooks triggers create|list|show|delete|fire`: stored edit templates (/v1/triggers). `fire` signs its
 * call the way a customer's pipeline would (Standard Webhooks headers under the trigger's `whsec_` secret, over
 * the exact body sent) and prints the edit it queued; the same `--message-id` again returns that edit.
 */
import type { z } from "zod";
import { editParamsFromFlags } from "../../shared/contracts/edit_params.ts";
import type {
  TriggerFired as TriggerFiredSchema,
  TriggerView,
  TriggerWithSecret as WithSecretSchema,
} from "../../shared/contracts/webhooks.ts";
import { InputError } from "../../shared/errors.ts";
import { generateMessageId, signWebhook } from "../../shared/webhooks/signature.ts";
import { action, intFlag, operands, type Parsed, service, str } from "./common.ts";
import { ensureOk } from "./http.ts";
import { note, printJson, table } from "./output.ts";

type WithSecret = z.infer<typeof WithSecretSchema>;
type TriggerFired = z.infer<typeof TriggerFiredSchema>;

export const TRIGGERS_USAGE = `Triggers: edit templates that a signed call starts (no API key needed to fire)
  profs webhooks triggers create --name NAME --model ID [--dataset ID] [--rank N] [--layers FROM:TO]
                                 [--max-pairs N] [--seed N] [--max-tokens N] [--no-centering]
        prints its id, and its secret once (on stderr; in the JSON with --json)
  profs webhooks triggers list [--limit N]
  profs webhooks triggers show ID
  profs webhooks triggers delete ID
  profs webhooks triggers fire ID --secret WHSEC [--message-id MSG] [--dataset ID] [--rank N] [--layers …]
        a signed fire call: another dataset and the edit flags given replace the template's; prints the
        edit's id (the same --message-id again returns the edit the first call started)`;

/** The flags `profs webhooks` parses for the triggers group (merged with the endpoints' flags). */
export const TRIGGER_FLAGS = {
  name: { type: "string" },
  model: { type: "string" },
  dataset: { type: "string" },
  rank: { type: "string" },
  layers: { type: "string" },
  "max-pairs": { type: "string" },
  seed: { type: "string" },
  "max-tokens": { type: "string" },
  "no-centering": { type: "boolean" },
  secret: { type: "string" },
  "message-id": { type: "string" },
} as const;

const ACTIONS = ["create", "list", "show", "delete", "fire"] as const;

/** `p.positionals` starts at the action (after `triggers`). */
export async function runTriggers(p: Parsed): Promise<void> {
  const act = action("webhooks triggers", p.positionals, ACTIONS, TRIGGERS_USAGE);
  const v = p.values;
  if (act === "create") {
    operands(p.positionals, [], "create a trigger");
    const name = str(v.name), model = str(v.model);
    if (!name || !model) {
      throw new InputError("Cannot create a trigger as '--name' and '--model' must be given: one is missing");
    }
    const params = editParamsFromFlags(editFlags(v));
    const created = await (await service()).json<WithSecret>("/v1/triggers", {
      method: "POST",
      data: {
        name,
        template: { model_id: model, ...(str(v.dataset) ? { dataset_id: str(v.dataset) } : {}), params },
      },
    });
    if (p.json) return printJson(created);
    console.log(created.id);
    note(
      `created trigger ${created.id}; its secret (store it now, it is not shown again): ${created.secret}`,
    );
  } else if (act === "list") {
    operands(p.positionals, [], "list triggers");
    const limit = intFlag(v.limit, "--limit", 1, 100) ?? 20;
    const page = await (await service()).json<{ data: TriggerView[] }>(`/v1/triggers?limit=${limit}`);
    if (p.json) return printJson(page);
    console.log(table(
      ["ID", "NAME", "MODEL", "DATASET", "LAST_FIRED", "CREATED"],
      page.data.map((
        t,
      ) => [t.id, t.name, t.template.model_id, t.template.dataset_id, t.last_fired_at, t.created_at]),
    ));
  } else if (act === "show") {
    const [id] = operands(p.positionals, ["ID"], "show a trigger");
    const trigger = await (await service()).json<TriggerView>(triggerPath(id));
    if (p.json) return printJson(trigger);
    console.log(describeTrigger(trigger));
  } else if (act === "delete") {
    const [id] = operands(p.positionals, ["ID"], "delete a trigger");
    await (await service()).json<null>(triggerPath(id), { method: "DELETE" });
    if (p.json) return printJson({ id, object: "trigger", deleted: true });
    note(`deleted trigger ${id}`);
  } else {
    const [id] = operands(p.positionals, ["ID"], "fire a trigger");
    const fired = await fire(id, p);
    if (p.json) return printJson(fired);
    console.log(fired.edit_id);
    note(
      fired.replayed
        ? `this message was accepted before: edit ${fired.edit_id} (${fired.status}), nothing new queued`
        : `trigger ${id} queued edit ${fired.edit_id} (${fired.status})`,
    );
  }
}

async function fire(id: string, p: Parsed): Promise<TriggerFired> {
  const v = p.values;
  const secret = str(v.secret);
  if (!secret) {
    throw new InputError(
      "Cannot fire a trigger as '--secret' (its whsec_ secret, shown at create) must be given",
    );
  }
  // Only the flags given override the template; editParamsFromFlags checks them against the API's bounds.
  const flags = editFlags(v);
  const given = Object.keys(flags).filter((k) => flags[k as keyof typeof flags] !== undefined);
  const checked = editParamsFromFlags(flags) as Record<string, unknown>;
  const params = Object.fromEntries(given.map((k) => [k, checked[k]]));
  const fireBody = {
    ...(str(v.dataset) ? { dataset_id: str(v.dataset) } : {}),
    ...(given.length ? { params } : {}),
  };
  const body = Object.keys(fireBody).length ? JSON.stringify(fireBody) : "";
  let headers;
  try {
    headers = await signWebhook(
      { id: str(v["message-id"]) ?? generateMessageId(), timestamp: new Date(), body },
      [secret],
    );
  } catch (error) {
    throw new InputError(
      `Cannot fire trigger '${id}' as the call cannot be signed: ${(error as Error).message}`,
    );
  }
  const api = await service();
  const path = `${triggerPath(id)}/fire`;
  const response = await api.fetch(path, {
    method: "POST",
    headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
    body,
  });
  await ensureOk(response, `POST ${path}`);
  return await response.json() as TriggerFired;
}

function editFlags(v: Parsed["values"]) {
  return {
    layers: str(v.layers),
    rank: str(v.rank),
    centering: v["no-centering"] ? false : undefined,
    max_pairs: str(v["max-pairs"]),
    seed: str(v.seed),
    max_tokens: str(v["max-tokens"]),
  };
}

const triggerPath = (id: string) => `/v1/triggers/${encodeURIComponent(id)}`;

function describeTrigger(t: TriggerView): string {
  const params = Object.entries(t.template.params).map(([k, value]) => `${k}=${JSON.stringify(value)}`);
  return [
    `${t.id}  ${t.name}  model ${t.template.model_id}` +
    (t.template.dataset_id ? `  dataset ${t.template.dataset_id}` : "  (no dataset: fire must name one)"),
    `  params ${params.join(" ")}`,
    `  created ${t.created_at}  last fired ${t.last_fired_at ?? "never"}`,
    `  fire POST ${t.links.fire} (signed with the trigger's secret)`,
  ].join("\n");
}
