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
