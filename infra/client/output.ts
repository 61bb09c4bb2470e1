/** How client commands print: `--json` → the API's JSON on stdout (one document); else short lines and tables. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Left-aligned columns with a header row; "-" for empty cells. */
export function table(header: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    header,
    ...rows.map((r) => r.map((c) => c === null || c === undefined || c === "" ? "-" : String(c))),
  ];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** One message for people, on stderr, so stdout stays the result. */
export function note(text: string): void {
  console.error(text);
}
