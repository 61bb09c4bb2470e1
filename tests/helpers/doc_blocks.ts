/**
 * The READMEs' shell blocks, as a reader meets them: the pages of `DOC_PAGES` in order (README.md's terminal
 * session first; api/README.md's examples continue in the same shell), each ```sh or ```bash fence with its
 * page and line. A fence written ```sh no-run is an example that cannot run here as written (a Postgres server
 * elsewhere, the whole test suite, a server-side folder): it is read by the static checks but not run.
 */
export const DOC_PAGES = [
  "README.md",
  "api/README.md",
  "infra/README.md",
  "gpu-worker/README.md",
  "shared/README.md",
];

export interface ShellBlock {
  page: string;
  /** 1-based line of the opening fence */
  line: number;
  code: string;
  run: boolean;
}

const ROOT = new URL("../../", import.meta.url);

export function shellBlocksOf(page: string, markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  for (const m of markdown.matchAll(/^```(sh|bash)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const flags = m[2].trim().split(/\s+/).filter(Boolean);
    blocks.push({
      page,
      line: markdown.slice(0, m.index).split("\n").length,
      code: m[3],
      run: !flags.includes("no-run"),
    });
  }
  return blocks;
}

export async function docShellBlocks(): Promise<ShellBlock[]> {
  const all: ShellBlock[] = [];
  for (const page of DOC_PAGES) {
    all.push(...shellBlocksOf(page, await Deno.readTextFile(new URL(page, ROOT))));
  }
  return all;
}
