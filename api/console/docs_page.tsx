/** @jsxImportSource hono/jsx */
/**
 * `/docs`: the API reference — Swagger UI (served from node_modules/swagger-ui-dist by ./routes.tsx, no CDN)
 * reading `/openapi.json`, with "Try it out" sending the API key the console keeps in this tab (static/docs.js) —
 * and, below it, one anchored entry per problem type: the `type` URIs of error responses point here.
 */
import { Fragment } from "hono/jsx";
import { PROBLEM_TYPES } from "../../shared/contracts/problem.ts";

/** One line per problem type (plain text: rendered escaped). */
const PROBLEM_HELP: Record<keyof typeof PROBLEM_TYPES, string> = {
  "bad-request": "The request cannot be read (e.g. a bad header).",
  "malformed-json": "The body is not valid JSON.",
  "validation-error": "The request is well-formed but a field is wrong; errors lists each field and why.",
  unauthorized: "No API key, or the key is unknown or revoked. Send Authorization: Bearer <key>.",
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
    "The model folder cannot be used; errors lists the reasons. Fix the files and finalize again.",
  "invalid-dataset": "The dataset has bad lines or records; errors names each line. Nothing was stored.",
  "invalid-upload":
    "The uploaded file is truncated or corrupt (e.g. a bad safetensors header). Nothing was stored.",
  "too-many-requests":
    "This tenant already has as many open event streams as the server allows; close one, or retry after " +
    "Retry-After seconds.",
  "insufficient-storage":
    "The server's storage is full; nothing was stored. Retry later; the service keeps serving meanwhile.",
  "service-unavailable": "A dependency (the database) is not reachable.",
  "internal-error": "A bug or an outage; quote request_id when reporting it.",
};

export function DocsPage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>profs API reference</title>
        <link rel="stylesheet" href="/console/static/swagger-ui.css" />
        <link rel="stylesheet" href="/console/static/console.css" />
        <script src="/console/static/swagger-ui-bundle.js" defer></script>
        <script src="/console/static/docs.js" defer></script>
      </head>
      <body data-page="docs">
        <header class="top">
          <a class="brand" href="/console">profs</a>
          <nav aria-label="Reference">
            <ul>
              <li>
                <a href="/console">Console</a>
              </li>
              <li>
                <a href="/openapi.json">openapi.json</a>
              </li>
              <li>
                <a href="#problems">Problem types</a>
              </li>
            </ul>
          </nav>
          <p id="docs-key" class="signin" role="status"></p>
        </header>
        <main>
          <div id="swagger-ui">
            <noscript>
              The interactive reference needs JavaScript; the document itself is at{" "}
              <a href="/openapi.json">/openapi.json</a>.
            </noscript>
          </div>
          <section class="problems" aria-labelledby="problems">
            <h2 id="problems">Problem types</h2>
            <p>
              Errors are RFC 9457 <code>application/problem+json</code>; their <code>type</code> is one of:
            </p>
            <dl>
              {Object.entries(PROBLEM_TYPES).map(([slug, title]) => (
                <Fragment key={slug}>
                  <dt id={`problem-${slug}`}>
                    <code>/docs#problem-{slug}</code> — {title}
                  </dt>
                  <dd>{PROBLEM_HELP[slug as keyof typeof PROBLEM_TYPES]}</dd>
                </Fragment>
              ))}
            </dl>
          </section>
        </main>
      </body>
    </html>
  );
}
