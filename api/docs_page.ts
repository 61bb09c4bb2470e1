/**
 * `/docs`: a self-contained HTML page rendered from the OpenAPI document (no scripts, no CDN, so it works on an
 * air-gapped server): every operation with its parameters, request body and responses, the schemas, and one
 * anchored entry per problem type — the `type` URIs of error responses point here.
 */
import { PROBLEM_TYPES } from "../shared/contracts/problem.ts";

type Json = Record<string, unknown>;

const PROBLEM_HELP: Record<keyof typeof PROBLEM_TYPES, string> = {
  "bad-request": "The request cannot be read (e.g. a bad header).",
  "malformed-json": "The body is not valid JSON.",
  "validation-error": "The request is well-formed but a field is wrong; `errors` lists each field and why.",
  unauthorized: "No API key, or the key is unknown or revoked. Send `Authorization: Bearer <key>`.",
  forbidden: "The API key lacks the scope the route needs.",
  "not-found":
    "No such route, or no such object for this API key's tenant (another tenant's objects are 404 too).",
  "method-not-allowed": "The route exists but not for this method.",
  "idempotency-key-reused": "This Idempotency-Key was first used with a different request; use a new key.",
  conflict:
    "The request conflicts with the object's state, or an Idempotency-Key was reused for another request.",
  "payload-too-large":
    "The body is over the route's limit (JSON bodies are small; upload caps are configured).",
  "unsupported-media-type": "The Content-Type is not one the route accepts.",
  "range-not-satisfiable": "The Range header asks for bytes outside the artifact.",
  "invalid-model":
    "The model folder cannot be used; `errors` lists the reasons. Fix the files and finalize again.",
  "invalid-dataset": "The dataset has bad lines or records; `errors` names each line. Nothing was stored.",
  "invalid-upload":
    "The uploaded file is truncated or corrupt (e.g. a bad safetensors header). Nothing was stored.",
  "service-unavailable": "A dependency (the database) is not reachable.",
  "internal-error": "A bug or an outage; quote `request_id` when reporting it.",
};

export function renderDocsPage(doc: Json): string {
  const info = (doc.info ?? {}) as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const schemas = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, unknown>;
  const operations: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      operations.push(renderOperation(method, path, op));
    }
  }
  const problems = Object.entries(PROBLEM_TYPES).map(([slug, title]) =>
    `<dt id="problem-${slug}"><code>/docs#problem-${slug}</code> — ${esc(title)}</dt>` +
    `<dd>${esc(PROBLEM_HELP[slug as keyof typeof PROBLEM_TYPES])}</dd>`
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(String(info.title ?? "API"))} — API docs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6em;overflow:auto;border-radius:4px}
.op{border-top:1px solid #ddd;padding:.6em 0}.m{display:inline-block;min-width:4.5em;font-weight:bold}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c22}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}dt{margin-top:.5em}
</style></head><body>
<h1>${esc(String(info.title ?? "API"))} <small>${esc(String(info.version ?? ""))}</small></h1>
<p>${esc(String(info.description ?? ""))}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI ${
    esc(String(doc.openapi))
  }).
Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>. Errors are RFC 9457
<code>application/problem+json</code>.</p>
<h2>Operations</h2>
${operations.join("\n")}
<h2 id="problems">Problem types</h2><dl>${problems.join("\n")}</dl>
<h2>Schemas</h2>
${
    Object.entries(schemas).map(([name, schema]) =>
      `<h3 id="schema-${esc(name)}">${esc(name)}</h3><pre>${esc(JSON.stringify(schema, null, 2))}</pre>`
    ).join("\n")
  }
</body></html>`;
}

function renderOperation(method: string, path: string, op: Json): string {
  const params = (op.parameters ?? []) as Json[];
  const body = op.requestBody as Json | undefined;
  const responses = (op.responses ?? {}) as Record<string, Json>;
  const paramRows = params.map((p) =>
    `<tr><td><code>${esc(String(p.name))}</code></td><td>${esc(String(p.in))}</td>` +
    `<td>${p.required ? "required" : ""}</td><td>${esc(schemaLabel(p.schema))}</td>` +
    `<td>${esc(String(p.description ?? (p.schema as Json | undefined)?.description ?? ""))}</td></tr>`
  );
  const bodyTypes = body ? Object.entries((body.content ?? {}) as Record<string, Json>) : [];
  return `<div class="op" id="op-${esc(String(op.operationId ?? `${method}-${path}`))}">
<div><span class="m ${method}">${method.toUpperCase()}</span><code>${esc(path)}</code> — ${
    esc(String(op.summary ?? ""))
  }</div>
${op.description ? `<p>${esc(String(op.description))}</p>` : ""}
${
    paramRows.length
      ? `<table><tr><th>parameter</th><th>in</th><th></th><th>type</th><th></th></tr>${
        paramRows.join("")
      }</table>`
      : ""
  }
${
    bodyTypes.length
      ? `<p>Body: ${
        bodyTypes.map(([type, media]) => `<code>${esc(type)}</code> ${esc(schemaLabel(media.schema))}`).join(
          ", ",
        )
      }${body?.description ? ` — ${esc(String(body.description))}` : ""}</p>`
      : ""
  }
<ul>${
    Object.entries(responses).map(([status, r]) =>
      `<li><code>${esc(status)}</code> ${esc(String(r.description ?? ""))} ${
        Object.entries((r.content ?? {}) as Record<string, Json>).map(([type, media]) =>
          `<code>${esc(type)}</code> ${esc(schemaLabel(media.schema))}`
        ).join(", ")
      }</li>`
    ).join("")
  }</ul></div>`;
}

function schemaLabel(schema: unknown): string {
  if (!schema || typeof schema !== "object") return "";
  const s = schema as Json;
  if (typeof s.$ref === "string") return s.$ref.replace("#/components/schemas/", "");
  if (s.type === "array") return `${schemaLabel(s.items)}[]`;
  if (Array.isArray(s.enum)) return s.enum.join(" | ");
  return String(s.type ?? (s.format ?? ""));
}

function esc(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );
}
