/**
 * Request and response shapes of the webhook endpoint and trigger routes (zod; the OpenAPI document is generated
 * from them). Secrets appear only in the responses that create or rotate them.
 */
import { z } from "zod";
import { pgText } from "./text.ts";
import { EditParams } from "./edit_params.ts";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/events.ts";

export const WebhookEventType = z.enum(WEBHOOK_EVENT_TYPES).meta({ id: "WebhookEventType" });

export const WebhookEndpointCreate = z.strictObject({
  url: pgText(z.string().min(1).max(2048)).meta({
    description: "http(s) URL that receives POSTs; must be public (or covered by PROFS_WEBHOOK_ALLOWLIST)",
    example: "https://hooks.example.com/profs",
  }),
  events: z.array(WebhookEventType).min(1).max(WEBHOOK_EVENT_TYPES.length)
    .refine((events) => new Set(events).size === events.length, { message: "events must not repeat" }),
  description: pgText(z.string().max(500)).default(""),
}).meta({ id: "WebhookEndpointCreate" });

export const WebhookEndpointView = z.object({
  id: z.string(),
  object: z.literal("webhook_endpoint"),
  url: z.string(),
  events: z.array(WebhookEventType),
  description: z.string(),
  disabled: z.boolean(),
  disabled_reason: z.string().nullable(),
  created_at: z.string(),
  previous_secret_expires_at: z.string().nullable().meta({
    description: "after a rotation, the old secret also signs until this time",
  }),
}).meta({ id: "WebhookEndpoint" });
export type WebhookEndpointView = z.infer<typeof WebhookEndpointView>;

export const WebhookEndpointWithSecret = WebhookEndpointView.extend({
  secret: z.string().meta({ description: "`whsec_…` signing secret; shown only in this response" }),
}).meta({ id: "WebhookEndpointWithSecret" });

export const DeliveryAttemptView = z.object({
  attempt: z.int().min(1),
  started_at: z.string(),
  duration_ms: z.int().min(0),
  status_code: z.int().nullable(),
  error: z.string().nullable().meta({ description: "why no status came back (refused, timeout, network)" }),
}).meta({ id: "WebhookDeliveryAttempt" });

export const DeliveryView = z.object({
  id: z.string(),
  object: z.literal("webhook_delivery"),
  webhook_id: z.string().meta({ description: "the `webhook-id` header, stable across retries" }),
  endpoint_id: z.string(),
  event_type: WebhookEventType,
  status: z.enum(["pending", "succeeded", "failed"]),
  attempts: z.int().min(0),
  next_attempt_at: z.string().nullable(),
  last_status_code: z.int().nullable(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  finished_at: z.string().nullable(),
  payload: z.unknown(),
  attempt_log: z.array(DeliveryAttemptView),
}).meta({ id: "WebhookDelivery" });
export type DeliveryView = z.infer<typeof DeliveryView>;

export const TriggerTemplate = z.strictObject({
  model_id: pgText(z.string().min(1).max(100)),
  dataset_id: pgText(z.string().min(1).max(100)).optional()
    .meta({ description: "default dataset; a fire may name another" }),
  params: EditParams.default(EditParams.parse({})),
}).meta({ id: "TriggerTemplate" });

export const TriggerCreate = z.strictObject({
  name: pgText(z.string().min(1).max(200)),
  template: TriggerTemplate,
}).meta({ id: "TriggerCreate" });

export const TriggerView = z.object({
  id: z.string(),
  object: z.literal("trigger"),
  name: z.string(),
  template: TriggerTemplate,
  created_at: z.string(),
  last_fired_at: z.string().nullable(),
  links: z.object({ fire: z.string() }),
}).meta({ id: "Trigger" });
export type TriggerView = z.infer<typeof TriggerView>;

export const TriggerWithSecret = TriggerView.extend({
  secret: z.string().meta({
    description:
      "`whsec_…` secret to sign fire requests with (Standard Webhooks); shown only in this response",
  }),
}).meta({ id: "TriggerWithSecret" });

/** Body of a fire request (may be empty): a dataset and parameter overrides on top of the template. */
export const TriggerFire = z.strictObject({
  dataset_id: z.string().min(1).max(100).optional(),
  // Checked after merging with the template (as EditParams), so an override only names what it changes.
  params: z.record(z.string(), z.unknown()).optional().meta({
    description: "EditParams fields that replace the template's",
  }),
}).meta({ id: "TriggerFire" });
export type TriggerFire = z.infer<typeof TriggerFire>;

export const TriggerFired = z.object({
  edit_id: z.string(),
  status: z.string(),
  replayed: z.boolean().meta({
    description: "true when this webhook-id was seen before: the edit it started, no new job",
  }),
  links: z.object({ edit: z.string() }),
}).meta({ id: "TriggerFired" });
