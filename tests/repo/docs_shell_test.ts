/**
 * The READMEs' shell blocks as a new user would paste them, in order, into one shell (tests/helpers/doc_blocks.ts):
 * every `$VAR` they read is set by an earlier line (or given a default, `${VAR:-…}`, or is the shell's own), and
 * none of the commands known to fail on a fresh Debian machine appear. tests/repo/docs_run_test.ts runs the
 * runnable blocks against a live `profs serve`.
 */
import assert from "node:assert/strict";
import { docShellBlocks, shellBlocksOf } from "../helpers/doc_blocks.ts";

/** Variables a shell has before the pages set any. */
const PROVIDED = ["PWD", "PATH", "HOME"];

/** Code with comments and single-quoted strings removed (the shell expands neither). */
function code(block: string): string {
  return block.split("\n").map((line) => line.replace(/(^|\s)#.*$/, "").replace(/'[^']*'/g, "''")).join("\n");
}

/** `$VAR` reads of a line that `set -u` would refuse if VAR were unset (`${VAR:-x}` and `${VAR-x}` are safe). */
function reads(line: string): string[] {
  return [...line.matchAll(/\$(\{?)([A-Za-z_][A-Za-z0-9_]*)(:?-)?/g)]
    .filter((m) => !(m[1] === "{" && m[3]))
    .map((m) => m[2]);
}

export function unsetReads(blocks: string[], provided: string[]): string[] {
  const set = new Set(provided);
  const unset: string[] = [];
  for (const line of code(blocks.join("\n")).split("\n")) {
    for (const m of line.matchAll(/\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b/g)) set.add(m[1]);
    for (const name of reads(line)) if (!set.has(name)) unset.push(`${name} in: ${line.trim()}`);
    for (const m of line.matchAll(/(?:^|[\s;(]|export\s+)([A-Za-z_][A-Za-z0-9_]*)=/g)) set.add(m[1]);
  }
  return unset;
}

Deno.test("the READMEs' shell blocks, read in order as one shell, set every variable before reading it", async () => {
  const blocks = await docShellBlocks();
  assert.ok(blocks.filter((b) => b.run).length >= 8, "the runnable blocks are found");
  assert.deepEqual(
    unsetReads(blocks.map((b) => b.code), PROVIDED),
    [],
    "variables read before any line sets them",
  );
});

Deno.test("the variable check fails on a read before the set, and accepts defaults and loop variables", () => {
  assert.deepEqual(unsetReads(["echo $A", "A=1"], []), ["A in: echo $A"]);
  assert.deepEqual(unsetReads(["X=${X:-8080} Y=${Y-1}", "for f in a b; do echo $f $X; done"], []), []);
  assert.deepEqual(unsetReads(["echo '$QUOTED' # $COMMENT"], []), []);
});

Deno.test("no-run fences are recognised and left out of the run", () => {
  const blocks = shellBlocksOf("x.md", "```sh no-run\nnpm test\n```\n\n```sh\necho hi\n```\n");
  assert.deepEqual(blocks.map((b) => [b.run, b.line, b.code]), [[false, 1, "npm test\n"], [
    true,
    5,
    "echo hi\n",
  ]]);
});

Deno.test("the READMEs' shell blocks use no command that fails on a fresh Debian machine", async () => {
  const text = (await docShellBlocks()).map((b) => b.code).join("\n");
  for (
    const [pattern, why] of [
      [/\buuidgen\b/, "uuidgen is not installed on Debian (use /proc/sys/kernel/random/uuid)"],
      [/-C -\s+-\w*J/, "curl refuses -C - with -J"],
      [/hooks\.example\.com/, "example.com does not resolve to a public receiver"],
    ] as const
  ) {
    assert.doesNotMatch(text, pattern, why);
  }
});
