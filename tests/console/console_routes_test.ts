/**
 * The console's pages and files through the app (no browser): every page renders with the CSP and without an
 * inline script, the static files and Swagger UI's assets are served, nothing else under those folders is.
 */
import assert from "node:assert/strict";
import { CONSOLE_PAGES } from "../../api/console/layout.tsx";
import { createHarness } from "../api/harness.ts";

Deno.test("console: / leads to the console; every page has the CSP, labels and no inline script", async () => {
  const h = await createHarness();
  try {
    const root = await h.app.request("/");
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("Location"), "/console");
    for (const path of ["/console", ...CONSOLE_PAGES.map((p) => p.path), "/docs"]) {
      const response = await h.app.request(path);
      assert.equal(response.status, 200, path);
      const csp = response.headers.get("Content-Security-Policy") ?? "";
      assert.match(csp, /script-src 'self'(;|$)/, `${path}: ${csp}`);
      assert.doesNotMatch(csp, /unsafe-eval|script-src[^;]*unsafe-inline/, path);
      const html = await response.text();
      // Every <script> has a src: the CSP would refuse an inline one anyway, this keeps the pages honest.
      for (const tag of html.match(/<script[^>]*>/g) ?? []) {
        assert.match(tag, /src="\/console\/static\//, path);
      }
      assert.doesNotMatch(html, /\son[a-z]+=/i, `${path} has no inline event handler`);
      // Each input, select and textarea with an id has a <label for> or an aria-label.
      for (const [, id] of html.matchAll(/<(?:input|select|textarea)[^>]*\bid="([^"]+)"/g)) {
        assert.ok(html.includes(`for="${id}"`), `${path}: #${id} is labelled`);
      }
    }
  } finally {
    await h.close();
  }
});

Deno.test("console: static files and Swagger UI's assets are served by name, nothing else", async () => {
  const h = await createHarness();
  try {
    for (
      const [name, type] of [
        ["console.js", "text/javascript"],
        ["docs.js", "text/javascript"],
        ["console.css", "text/css"],
        ["swagger-ui-bundle.js", "text/javascript"],
        ["swagger-ui.css", "text/css"],
      ]
    ) {
      const response = await h.app.request(`/console/static/${name}`);
      assert.equal(response.status, 200, name);
      assert.match(response.headers.get("Content-Type") ?? "", new RegExp(type));
      assert.ok((await response.arrayBuffer()).byteLength > 100, name);
    }
    for (const name of ["package.json", "..%2F..%2Fdeno.json", "index.html"]) {
      const response = await h.app.request(`/console/static/${name}`);
      assert.equal(response.status, 404, name);
      await response.body?.cancel();
    }
  } finally {
    await h.close();
  }
});

Deno.test("docs: every operation that takes a body has a request example /docs can pre-fill", async () => {
  const h = await createHarness();
  try {
    const doc = await (await h.app.request("/openapi.json")).json();
    let bodies = 0;
    for (
      const [path, ops] of Object.entries(
        doc.paths as Record<string, Record<string, Record<string, unknown>>>,
      )
    ) {
      for (const [method, op] of Object.entries(ops)) {
        const content = (op.requestBody as { content?: Record<string, { example?: unknown }> } | undefined)
          ?.content;
        if (!content) continue;
        bodies++;
        const [type, media] = Object.entries(content)[0];
        assert.ok(media.example !== undefined, `${method} ${path} (${type}) has an example`);
      }
    }
    assert.ok(bodies >= 9, `${bodies} operations with a body`);
    const fire = doc.paths["/v1/triggers/{id}/fire"].post;
    assert.deepEqual(fire.security, [], "firing a trigger takes no API key");
  } finally {
    await h.close();
  }
});
