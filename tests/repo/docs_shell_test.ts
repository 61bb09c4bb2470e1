/**
 * The READMEs' shell blocks as a new user would paste them, in order, into one shell: every `$VAR` they read is
 * set by an earlier line of the same page (or is the environment this page tells the reader to set), and none of
 * the commands known to fail on a fresh Debian machine appear. Running the blocks against a live `profs serve`
 * is the next step (tests/client covers the same flow through the client commands).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** Variables a page may read without setting: the shell's own, and those it tells the reader to provide. */
const PROVIDED: Record<string, string[]> = {
  "README.md": ["PWD", "PATH", "HOME"],
  "api/README.md": ["PWD", "PATH", "HOME", "KEY", "PROFS_BOOTSTRAP_KEY"],
};

function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** Code with comments and single-quoted strings removed (the shell expands neither). */
function code(block: string): string {
  return block.split("\n").map((line) => line.replace(/(^|\s)#.*$/, "").replace(/'[^']*'/g, "''")).join("\n");
}

for (const [page, provided] of Object.entries(PROVIDED)) {
  Deno.test(`${page}: every shell variable is set before it is read`, async () => {
    const text = code(shellBlocks(await Deno.readTextFile(new URL(page, ROOT))).join("\n"));
    const set = new Set(provided);
    const unset: string[] = [];
    for (const line of text.split("\n")) {
      for (const m of line.matchAll(/\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b/g)) set.add(m[1]);
      for (const m of line.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
        if (!set.has(m[1])) unset.push(`${m[1]} in: ${line.trim()}`);
      }
      for (const m of line.matchAll(/(?:^|[\s;(]|export\s+)([A-Za-z_][A-Za-z0-9_]*)=/g)) set.add(m[1]);
    }
    assert.deepEqual(unset, [], `${page} reads variables no earlier line sets`);
  });

  Deno.test(`${page}: no command that fails on a fresh Debian machine`, async () => {
    const text = shellBlocks(await Deno.readTextFile(new URL(page, ROOT))).join("\n");
    for (
      const [pattern, why] of [
        [/\buuidgen\b/, "uuidgen is not installed on Debian (use /proc/sys/kernel/random/uuid)"],
        [/-C -\s+-\w*J/, "curl refuses -C - with -J"],
        [/hooks\.example\.com/, "example.com does not resolve to a public receiver"],
      ] as const
    ) {
      assert.doesNotMatch(text, pattern, `${page}: ${why}`);
    }
  });
}
