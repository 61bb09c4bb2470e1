/** @jsxImportSource hono/jsx */
/**
 * The web console and the API reference, same origin as the API: server-rendered pages (hono/jsx), the
 * console's static script and stylesheet, and Swagger UI's assets served from its npm package
 * (node_modules/swagger-ui-dist) — no CDN, no build step. Every page carries a Content-Security-Policy that
 * allows scripts from this origin only (no inline script, no eval).
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import type { ApiEnv } from "../env.ts";
import { DocsPage } from "./docs_page.tsx";
import {
  ComparePage,
  DatasetsPage,
  EditsPage,
  HomePage,
  ModelsPage,
  ToxicityPage,
  WebhooksPage,
} from "./pages.tsx";

/**
 * Scripts and connections: this origin only. Styles: 'unsafe-inline' because Swagger UI sets style attributes
 * and the edit report (shown in a sandboxed iframe with no script) carries its own <style>. `frame-ancestors`
 * keeps the console out of other sites' frames.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function securityHeaders(): MiddlewareHandler<ApiEnv> {
  return async function securityHeaders(c, next) {
    await next();
    c.header("Content-Security-Policy", CONSOLE_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
  };
}

const STATIC_DIR = new URL("./static/", import.meta.url);
const SWAGGER_DIR = new URL("../../node_modules/swagger-ui-dist/", import.meta.url);

/** Files served as-is, by name (nothing else under these folders is reachable). */
const STATIC_FILES: Record<string, { dir: URL; type: string }> = {
  "console.js": { dir: STATIC_DIR, type: "text/javascript; charset=utf-8" },
  "console.css": { dir: STATIC_DIR, type: "text/css; charset=utf-8" },
  "docs.js": { dir: STATIC_DIR, type: "text/javascript; charset=utf-8" },
  "swagger-ui-bundle.js": { dir: SWAGGER_DIR, type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { dir: SWAGGER_DIR, type: "text/css; charset=utf-8" },
};

export function consoleRoutes() {
  const app = new Hono<ApiEnv>();
  const files = new Map<string, Uint8Array>();
  // Only on the console's own paths: the API's answers and route labels (metrics) stay as they are.
  const headers = securityHeaders();
  app.use("/console", headers);
  app.use("/console/*", headers);
  app.use("/docs", headers);

  app.get("/console/static/:file", async (c) => {
    const name = c.req.param("file");
    const file = STATIC_FILES[name];
    if (!file) return c.notFound();
    let bytes = files.get(name);
    if (!bytes) {
      bytes = await Deno.readFile(new URL(name, file.dir));
      files.set(name, bytes);
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": file.type,
      "Cache-Control": "no-cache",
    });
  });

  app.get("/", (c) => c.redirect("/console", 302));
  app.get("/console", (c) => c.html(<HomePage />));
  app.get("/console/models", (c) => c.html(<ModelsPage />));
  app.get("/console/datasets", (c) => c.html(<DatasetsPage />));
  app.get("/console/edits", (c) => c.html(<EditsPage />));
  app.get("/console/compare", (c) => c.html(<ComparePage />));
  app.get("/console/webhooks", (c) => c.html(<WebhooksPage />));
  app.get("/console/toxicity", (c) => c.html(<ToxicityPage />));
  app.get("/docs", (c) => c.html(<DocsPage />));
  return app;
}
