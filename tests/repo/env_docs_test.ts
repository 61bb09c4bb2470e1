/**
 * Every environment variable the code reads is in api/README.md's variable table, and every variable the table
 * lists is read somewhere: names read through `Deno.env.get("X")` or an `env("X")`-style helper, or written as a
 * `PROFS_…`, `HF_…` or `AWS_…` string literal, in the source folders and main.ts (tests and benchmarks excluded).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SOURCES = ["api", "shared", "gpu-worker", "infra", "main.ts"];
/** The process's own, read only to build defaults. */
const NOT_OURS = new Set(["HOME"]);

async function* tsFiles(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(path);
  if (info.isFile) {
    if (path.endsWith(".ts")) yield path;
    return;
  }
  for await (const entry of Deno.readDir(path)) yield* tsFiles(join(path, entry.name));
}

/** Names the code reads, each with one file that reads it. */
export async function envReads(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const patterns = [
    /\b(?:Deno\.env\.get|env\.get|env|envOrUndefined|bytes)\(\s*"([A-Z][A-Z0-9_]*)"/g,
    /"((?:PROFS|HF|AWS)_[A-Z0-9_]+)"/g,
  ];
  for (const source of SOURCES) {
    for await (const file of tsFiles(join(ROOT, source))) {
      const text = await Deno.readTextFile(file);
      for (const pattern of patterns) {
        for (const m of text.matchAll(pattern)) {
          if (!NOT_OURS.has(m[1]) && !found.has(m[1])) found.set(m[1], relative(ROOT, file));
        }
      }
    }
  }
  return found;
}

function documented(readme: string): Set<string> {
  const names = new Set<string>();
  for (const line of readme.split("\n")) {
    const cell = /^\| ((?:`[A-Z][A-Z0-9_]*`(?:, )?)+) +\|/.exec(line)?.[1];
    if (cell && /^\| `/.test(line)) {
      for (const m of cell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]);
    }
  }
  return names;
}

Deno.test("api/README.md's variable table lists every environment variable the code reads, and no other", async () => {
  const reads = await envReads();
  const readme = await Deno.readTextFile(join(ROOT, "api", "README.md"));
  const table = readme.slice(
    readme.indexOf("| variable "),
    readme.indexOf("\n\n", readme.indexOf("| variable ")),
  );
  const listed = documented(table);
  const missing = [...reads].filter(([name]) => !listed.has(name)).map(([name, file]) => `${name} (${file})`);
  assert.deepEqual(missing, [], "read by the code but not in api/README.md's table");
  const stale = [...listed].filter((name) => !reads.has(name));
  assert.deepEqual(stale, [], "in api/README.md's table but read nowhere");
});

Deno.test("the scan finds a variable read in each way the code reads them", async () => {
  const reads = await envReads();
  for (
    const name of ["DATABASE_URL", "PROFS_MAX_HEADER_BYTES", "PROFS_TOXICITY_TIMEOUT_MS", "PORT", "HF_TOKEN"]
  ) {
    assert.ok(reads.has(name), `${name} is found`);
  }
});
