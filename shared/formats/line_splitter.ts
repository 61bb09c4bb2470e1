/**
 * The JSONL line rules every reader shares (shared/formats/preference.ts, texts.ts): lines are numbered from 1,
 * a trailing "\r" and a leading byte-order mark are stripped, blank lines are skipped, and every other line must
 * be one JSON object; `each` gets the objects in order. A bad line throws `error(rule)`, which the reader words
 * with its own source name and `line`.
 */
export class JsonlObjects {
  #lines = new LineSplitter();
  #line = 0;

  constructor(readonly objectRule: string, readonly error: (rule: string) => Error) {}

  /** The number of the line read last (1-based). */
  get line(): number {
    return this.#line;
  }

  /** Feeds a chunk of text; complete lines are parsed now, a partial last line waits for the next chunk. */
  push(chunk: string, each: (object: Record<string, unknown>) => void): void {
    for (const line of this.#lines.push(chunk)) this.#parse(line, each);
  }

  /** Ends the input: parses what is left. */
  end(each: (object: Record<string, unknown>) => void): void {
    for (const line of this.#lines.end()) this.#parse(line, each);
  }

  #parse(raw: string, each: (object: Record<string, unknown>) => void): void {
    this.#line++;
    const line = raw.replace(/\r$/, "").replace(/^\uFEFF/, "");
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw this.error(`must be valid JSON (${(error as Error).message})`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw this.error(this.objectRule);
    }
    each(value as Record<string, unknown>);
  }
}

/**
 * Splits streamed text into lines for the JSONL readers: `push` returns the lines a chunk completes (a partial
 * last line waits for the next chunk), `end` returns what is left. "\n" ends a line; a trailing "\r" is the
 * reader's to strip.
 */
export class LineSplitter {
  #carry = "";

  push(chunk: string): string[] {
    const lines = (this.#carry + chunk).split("\n");
    this.#carry = lines.pop()!;
    return lines;
  }

  end(): string[] {
    const rest = this.#carry;
    this.#carry = "";
    return rest.length > 0 ? [rest] : [];
  }
}
