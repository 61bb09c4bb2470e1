/**
 * The floor plan, enforced (docs/ARCHITECTURE.md, "Folders"): every relative import in the source is resolved
 * and checked against the allowed directions. `api/` is HTTP only and never reaches into the compute wing;
 * `gpu-worker/` never reaches into the API; `shared/` holds what both sides import and depends on neither; the
 * database layer knows nothing of webhooks (the queue's `onFinish` hook is passed in by infra/compose.ts); only
 * `infra/` (where processes are assembled) and `main.ts` see every side. Nothing outside tests/ imports tests/.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE_ROOTS = ["api", "gpu-worker", "shared", "infra", "main.ts"];

/** [importer prefix, forbidden target prefix, why] */
const FORBIDDEN: [string, string, string][] = [
  ["shared/", "api/", "shared/ holds what both sides import; it depends on neither"],
  ["shared/", "gpu-worker/", "shared/ holds what both sides import; it depends on neither"],
  ["shared/", "infra/", "shared/ must not depend on how processes are assembled"],
  [
    "shared/db/",
    "shared/webhooks/",
    "the database layer takes the webhook outbox as a hook (infra/compose.ts)",
  ],
  ["api/", "gpu-worker/", "the API is HTTP only; it hands work to the worker through the queue"],
  ["api/", "infra/", "the API does not assemble processes"],
  ["gpu-worker/", "api/", "the compute wing talks to the API only through Postgres and the blob store"],
  ["infra/client/", "gpu-worker/", "the client commands speak HTTP to the service; they compute nothing"],
  ["gpu-worker/", "infra/", "the compute wing does not assemble processes"],
  ["", "tests/", "source never imports tests"],
  ["", "main.ts", "main.ts is the entry point, not a library"],
];

/**
 * References that are data, not code: every process applies the migrations when it opens the database, and
 * the migrations stay in infra/ where drizzle-kit writes them (the design card's layout).
 */
const ALLOWED: [string, string][] = [["shared/db/migrate.ts", "infra/migrations"]];

export interface Violation {
  from: string;
  to: string;
  why: string;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\.\.?\/[^"']*)["']/g;

/** The repo-relative targets of a file's relative imports (static, dynamic, re-exports, `new URL`). */
export function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => normalize(join(dirname(file), m[1])).replace(/\/$/, ""));
}

export function violations(file: string, targets: string[]): Violation[] {
  const out: Violation[] = [];
  for (const to of targets) {
    if (ALLOWED.some(([f, t]) => f === file && to === t)) continue;
    for (const [fromPrefix, toPrefix, why] of FORBIDDEN) {
      if (file.startsWith(fromPrefix) && (to === toPrefix || to.startsWith(toPrefix)) && file !== to) {
        out.push({ from: file, to, why });
      }
    }
  }
  return out;
}

async function sourceFiles(): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (/\.tsx?$/.test(path)) out.push(path); // .tsx: the console's pages (api/console/)
    }
  };
  for (const root of SOURCE_ROOTS) {
    if (root.endsWith(".ts")) out.push(root);
    else await walk(root);
  }
  return out.sort();
}

Deno.test("no source file imports in a forbidden direction", async () => {
  const files = await sourceFiles();
  assert.ok(files.length > 100, `expected the whole source tree, found ${files.length} files`);
  const found: Violation[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(join(ROOT, file));
    found.push(...violations(file, importsOf(file, text)));
  }
  assert.deepEqual(
    found.map((v) => `${v.from} → ${v.to} (${v.why})`),
    [],
    "forbidden imports",
  );
});

Deno.test("the layering check catches shared → gpu-worker, api → gpu-worker and db → webhooks", () => {
  const cases: [string, string, string][] = [
    [
      "shared/formats/patch.ts",
      `import type { Matrix } from "../../gpu-worker/profs/backend.ts";`,
      "gpu-worker/",
    ],
    [
      "api/routes/edits.ts",
      `const { startWorker } = await import("../../gpu-worker/worker/worker.ts");`,
      "gpu-worker/",
    ],
    ["shared/db/queue.ts", `import { notifyJobFinished } from "../webhooks/events.ts";`, "shared/webhooks/"],
    ["gpu-worker/worker/worker.ts", `export { createApp } from "../../api/app.ts";`, "api/"],
    ["shared/log.ts", `const x = new URL("../tests/helpers/env.ts", import.meta.url);`, "tests/"],
  ];
  for (const [file, line, target] of cases) {
    const found = violations(file, importsOf(file, line));
    assert.equal(found.length, 1, `${file}: ${line}`);
    assert.ok(found[0].to.startsWith(target), found[0].to);
  }
  // Allowed directions stay allowed.
  assert.deepEqual(
    violations("infra/compose.ts", importsOf("infra/compose.ts", `import "../gpu-worker/x.ts";`)),
    [],
  );
  assert.deepEqual(
    violations("gpu-worker/a.ts", importsOf("gpu-worker/a.ts", `import "../shared/x.ts";`)),
    [],
  );
});
