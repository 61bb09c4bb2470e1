/**
 * `profs webhooks endpoints …` and `profs webhooks triggers …`: the webhook surface of the API from the terminal.
 * Endpoints (/v1/webhook-endpoints) receive signed notifications about the tenant's jobs; triggers (/v1/triggers,
 * infra/client/triggers.ts) are edit templates started by a signed fire call. Secrets are shown once, on create
 * and rotate.
 */
import type { z } from "zod";
import {
  type DeliveryView,
  type WebhookEndpointView,
  type WebhookEndpointWithSecret as WithSecretSchema,
  WebhookEventType,
} from "../../shared/contracts/webhooks.ts";
import { InputError } from "../../shared/errors.ts";
import { action, intFlag, operands, parse, type Parsed, service, str } from "./common.ts";
import type { Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";
import { runTriggers, TRIGGER_FLAGS, TRIGGERS_USAGE } from "./triggers.ts";

type WithSecret = z.infer<typeof WithSecretSchema>;
interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

const EVENTS: readonly string[] = WebhookEventType.options;

export const USAGE = `usage: profs webhooks <endpoints|triggers> <action> [options]

Endpoints: where notifications about your jobs are POSTed, signed (Standard Webhooks)
  profs webhooks endpoints create URL --events E1,E2 [--description TEXT]
        register URL (public, or covered by the service's PROFS_WEBHOOK_ALLOWLIST); prints its id, and its
        signing secret once (on stderr; in the JSON with --json)
        events: ${EVENTS.join(", ")}
  profs webhooks endpoints list [--limit N]
  profs webhooks endpoints show ID
  profs webhooks endpoints delete ID
  profs webhooks endpoints rotate-secret ID      a new secret, shown once; the old one co-signs for 24 h
  profs webhooks endpoints enable ID             after a 410 Gone disabled it
  profs webhooks endpoints deliveries ID [--limit N]   the delivery log, newest first
  profs webhooks endpoints replay ID DELIVERY_ID  send a delivery's event again, as a new message

${TRIGGERS_USAGE}

every command: --json. Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

const ENDPOINT_ACTIONS = [
  "create",
  "list",
  "show",
  "delete",
  "rotate-secret",
  "enable",
  "deliveries",
  "replay",
] as const;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, {
    events: { type: "string" },
    description: { type: "string" },
    limit: { type: "string" },
    ...TRIGGER_FLAGS,
  }, USAGE);
  if (!p) return;
  const group = action("webhooks", p.positionals, ["endpoints", "triggers"], USAGE);
  const sub: Parsed = { ...p, positionals: p.positionals.slice(1) };
  if (group === "triggers") return await runTriggers(sub);
  const act = action("webhooks endpoints", sub.positionals, ENDPOINT_ACTIONS, USAGE);
  // Flags are checked before the service is asked, so a typo fails in one line and sends nothing.
  const limit = intFlag(p.values.limit, "--limit", 1, 100) ?? 20;
  if (act === "create") {
    const [url] = operands(sub.positionals, ["URL"], "create a webhook endpoint");
    const events = eventsFlag(p.values.events);
    const created = await (await service()).json<WithSecret>("/v1/webhook-endpoints", {
      method: "POST",
      data: { url, events, ...(str(p.values.description) ? { description: str(p.values.description) } : {}) },
    });
    if (p.json) return printJson(created);
    console.log(created.id);
    note(
      `created webhook endpoint ${created.id} for ${
        created.events.join(",")
      }; signing secret (store it now, ` +
        `it is not shown again): ${created.secret}`,
    );
    return;
  }
  const api = await service();
  if (act === "list") {
    operands(sub.positionals, [], "list webhook endpoints");
    const page = await api.json<Page<WebhookEndpointView>>(`/v1/webhook-endpoints?limit=${limit}`);
    if (p.json) return printJson(page);
    console.log(table(
      ["ID", "URL", "EVENTS", "STATUS", "CREATED"],
      page.data.map((e) => [e.id, e.url, e.events.join(","), status(e), e.created_at]),
    ));
  } else if (act === "show") {
    const [id] = operands(sub.positionals, ["ID"], "show a webhook endpoint");
    const endpoint = await api.json<WebhookEndpointView>(endpointPath(id));
    if (p.json) return printJson(endpoint);
    console.log(describeEndpoint(endpoint));
  } else if (act === "delete") {
    const [id] = operands(sub.positionals, ["ID"], "delete a webhook endpoint");
    await api.json<null>(endpointPath(id), { method: "DELETE" });
    if (p.json) return printJson({ id, object: "webhook_endpoint", deleted: true });
    note(`deleted webhook endpoint ${id}`);
  } else if (act === "rotate-secret") {
    const [id] = operands(sub.positionals, ["ID"], "rotate a webhook endpoint's secret");
    const rotated = await api.json<WithSecret>(`${endpointPath(id)}/rotate-secret`, { method: "POST" });
    if (p.json) return printJson(rotated);
    console.log(rotated.secret);
    note(
      `new signing secret for ${rotated.id} (not shown again); the old one co-signs until ` +
        `${rotated.previous_secret_expires_at}`,
    );
  } else if (act === "enable") {
    const [id] = operands(sub.positionals, ["ID"], "enable a webhook endpoint");
    const endpoint = await api.json<WebhookEndpointView>(`${endpointPath(id)}/enable`, { method: "POST" });
    if (p.json) return printJson(endpoint);
    note(`webhook endpoint ${endpoint.id}: ${status(endpoint)}`);
  } else if (act === "deliveries") {
    const [id] = operands(sub.positionals, ["ID"], "list a webhook endpoint's deliveries");
    const page = await api.json<Page<DeliveryView>>(`${endpointPath(id)}/deliveries?limit=${limit}`);
    if (p.json) return printJson(page);
    console.log(table(
      ["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "NEXT_ATTEMPT", "CREATED"],
      page.data.map((d) => [
        d.id,
        d.event_type,
        d.status,
        d.attempts,
        d.last_status_code ?? d.last_error,
        d.next_attempt_at,
        d.created_at,
      ]),
    ));
  } else {
    await replay(api, operands(sub.positionals, ["ID", "DELIVERY_ID"], "replay a webhook delivery"), p.json);
  }
}

async function replay(api: Http, [id, deliveryId]: string[], json: boolean): Promise<void> {
  const delivery = await api.json<DeliveryView>(
    `${endpointPath(id)}/deliveries/${encodeURIComponent(deliveryId)}/replay`,
    { method: "POST" },
  );
  if (json) return printJson(delivery);
  console.log(delivery.id);
  note(`queued ${delivery.event_type} again as ${delivery.webhook_id}`);
}

/** `--events a,b`: required, each one of the service's event types (checked here, so nothing is sent). */
export function eventsFlag(value: unknown): string[] {
  const events = str(value)?.split(",").map((e) => e.trim()).filter(Boolean) ?? [];
  if (events.length === 0) {
    throw new InputError(
      `Cannot create a webhook endpoint as '--events' must name at least one of ${EVENTS.join(", ")}`,
    );
  }
  const unknown = events.filter((e) => !EVENTS.includes(e));
  if (unknown.length) {
    throw new InputError(
      `Cannot create a webhook endpoint as '--events' must be among ${EVENTS.join(", ")}: current value ` +
        `'${unknown.join(",")}' is not`,
    );
  }
  return events;
}

const endpointPath = (id: string) => `/v1/webhook-endpoints/${encodeURIComponent(id)}`;

function status(e: WebhookEndpointView): string {
  return e.disabled ? `disabled${e.disabled_reason ? ` (${e.disabled_reason})` : ""}` : "enabled";
}

function describeEndpoint(e: WebhookEndpointView): string {
  const lines = [`${e.id}  ${status(e)}  ${e.url}`, `  events ${e.events.join(", ")}`];
  if (e.description) lines.push(`  description ${e.description}`);
  lines.push(`  created ${e.created_at}`);
  if (e.previous_secret_expires_at) {
    lines.push(`  previous secret co-signs until ${e.previous_secret_expires_at}`);
  }
  return lines.join("\n");
}
