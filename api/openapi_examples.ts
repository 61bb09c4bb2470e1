/**
 * Request examples for the OpenAPI document, keyed by operation: what `/docs` pre-fills for "Try it out" and
 * shows beside each body. Responses are documented by their schemas (Swagger UI derives an example from each);
 * request bodies get a real one here because a schema-derived body (`"string"` ids, every optional field) is
 * rarely one a user would send. Ids are placeholders to replace with your own.
 */
type Json = Record<string, unknown>;

const MODEL = "3f6c2a9e-0000-4000-8000-000000000001";
const DATASET = "3f6c2a9e-0000-4000-8000-000000000002";
const EDIT = "3f6c2a9e-0000-4000-8000-000000000003";

/** `"<method> <path>"` → the request body's example, per media type. */
export const REQUEST_EXAMPLES: Record<string, Record<string, unknown>> = {
  "post /v1/models": { "application/json": { name: "gpt2-medium" } },
  "put /v1/models/{id}/files/{filename}": { "application/octet-stream": "(the file's bytes)" },
  "post /v1/datasets": {
    "application/x-ndjson": '{"preferred": "Have a nice day.", "rejected": "Shut up, you idiot."}\n',
  },
  "post /v1/edits": {
    "application/json": {
      model_id: MODEL,
      dataset_id: DATASET,
      params: { rank: 2, centering: true, max_pairs: 500, seed: 0, max_tokens: 128 },
    },
  },
  "post /v1/tunes": {
    "application/json": {
      model_id: MODEL,
      dataset_id: DATASET,
      params: { max_rank: 4, layers_grid: [8, 12, 16], centering: "both", trials: 48, holdout: 0.2 },
    },
  },
  "post /v1/checks": {
    "application/json": { edit_id: EDIT, params: { max_new_tokens: 10 } },
  },
  "post /v1/toxicity": {
    "application/json": { texts: ["have a nice day", "shut up, you bastard"], threshold: 0.5 },
  },
  "post /v1/webhook-endpoints": {
    "application/json": {
      url: "https://hooks.example.com/profs",
      events: ["edit.succeeded", "edit.failed", "edit.canceled", "check.completed", "tune.succeeded"],
      description: "production alerts",
    },
  },
  "post /v1/triggers": {
    "application/json": {
      name: "nightly",
      template: { model_id: MODEL, dataset_id: DATASET, params: { rank: 2 } },
    },
  },
  "post /v1/triggers/{id}/fire": { "application/json": { params: { rank: 4 } } },
  "post /v1/keys": {
    "application/json": { tenant: "acme", name: "ci pipeline", scopes: ["edits:read", "edits:write"] },
  },
};

/** The document with each listed operation's request body example set (a copy; the input is not changed). */
export function withRequestExamples<T>(document: T): T {
  const doc = structuredClone(document) as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  for (const [key, examples] of Object.entries(REQUEST_EXAMPLES)) {
    const [method, path] = key.split(" ");
    const content = (paths[path]?.[method]?.requestBody as Json | undefined)?.content as
      | Record<string, Json>
      | undefined;
    if (!content) throw new Error(`Cannot add an example as '${key}' must be an operation with a body`);
    for (const [type, example] of Object.entries(examples)) {
      if (!content[type]) {
        throw new Error(
          `Cannot add an example as '${key}' must accept ${type}: current types are ${Object.keys(content)}`,
        );
      }
      content[type].example = example;
    }
  }
  return doc as T;
}
