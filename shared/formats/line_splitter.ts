/**
 * The JSONL line rules every reader shares (shared/formats/preference.ts, texts.ts): lines are numbered from 1,
 * a trailing "\r" and a leading byte-order mark are stripped, blank lines are skipped, a line over
 * `maxLineBytes` (UTF-8 bytes, the "\r" included) is refused without being kept, and every other line must be
 * one JSON object; `each` gets the objects in order. A bad line throws `error(rule)`, which the reader words
 * with its own source name and `line`; the next push goes on with the next line.
 */
import { InputError } from "../errors.ts";

export class JsonlObjects {
  #lines: LineSplitter;
  #line = 0;

  constructor(
    readonly objectRule: string,
    readonly error: (rule: string) => Error,
    options: LineSplitterOptions = {},
  ) {
    this.#lines = new LineSplitter(options);
  }

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

  #parse(raw: string | LineTooLong, each: (object: Record<string, unknown>) => void): void {
    this.#line++;
    if (raw instanceof LineTooLong) {
      const name = this.#lines.limitName ? ` (${this.#lines.limitName})` : "";
      throw this.error(`must be at most ${this.#lines.maxLineBytes} bytes${name}: it has ${raw.bytes}`);
    }
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

export interface LineSplitterOptions {
  /** A longer line (UTF-8 bytes, without its "\n") is dropped as it streams and reported as a LineTooLong. */
  maxLineBytes?: number;
  /** The setting behind `maxLineBytes`, named in the error (e.g. PROFS_MAX_LINE_BYTES). */
  limitName?: string;
}

/** The environment variable that caps one JSONL line, for uploads (the API) and for readers (worker, CLI). */
export const MAX_LINE_BYTES_ENV = "PROFS_MAX_LINE_BYTES";
export const DEFAULT_MAX_LINE_BYTES = 1024 ** 2;

/**
 * The readers' line cap: PROFS_MAX_LINE_BYTES (a positive integer of bytes), else 1 MiB. Workers and the CLI read
 * files with it, so a line stored before the API's cap (or under a larger one) is refused as it streams — never
 * held, parsed or tokenized.
 */
export function readerLineLimit(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Required<LineSplitterOptions> {
  const raw = env(MAX_LINE_BYTES_ENV);
  const bytes = raw === undefined || raw.trim() === "" ? DEFAULT_MAX_LINE_BYTES : Number(raw);
  if (!Number.isInteger(bytes) || bytes < 1) {
    throw new InputError(
      `Cannot read JSONL as ${MAX_LINE_BYTES_ENV} must be a positive integer: it is '${raw}'`,
    );
  }
  return { maxLineBytes: bytes, limitName: MAX_LINE_BYTES_ENV };
}

/** In place of a line over the cap: how many UTF-8 bytes it had (its text is not kept). */
export class LineTooLong {
  constructor(readonly bytes: number) {}
}

/**
 * Splits streamed text into lines for the JSONL readers: `push` returns the lines a chunk completes (a partial
 * last line waits for the next chunk), `end` returns what is left. "\n" ends a line; a trailing "\r" is the
 * reader's to strip. Linear in the input: each chunk is scanned once and a partial line is held as a list of
 * pieces joined once, when its "\n" arrives; a line over `maxLineBytes` stops being held at the cap.
 */
export class LineSplitter {
  readonly maxLineBytes: number;
  readonly limitName: string | undefined;
  #parts: string[] = [];
  /** UTF-8 bytes of the partial line so far (held in #parts, or dropped once over the cap). */
  #bytes = 0;
  #tooLong = false;
  #scanned = 0;

  constructor(options: LineSplitterOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? Infinity;
    this.limitName = options.limitName;
  }

  /** Characters read so far (each input character once): the work done, for tests. */
  get scannedChars(): number {
    return this.#scanned;
  }

  /** UTF-8 bytes of a partial line held in memory. */
  get heldBytes(): number {
    return this.#tooLong ? 0 : this.#bytes;
  }

  push(chunk: string): (string | LineTooLong)[] {
    const lines: (string | LineTooLong)[] = [];
    let start = 0;
    for (let end = chunk.indexOf("\n"); end >= 0; end = chunk.indexOf("\n", start)) {
      this.#add(chunk.slice(start, end));
      lines.push(this.#take());
      start = end + 1;
    }
    if (start < chunk.length) this.#add(chunk.slice(start));
    this.#scanned += chunk.length;
    return lines;
  }

  end(): (string | LineTooLong)[] {
    return this.#bytes > 0 || this.#parts.length > 0 ? [this.#take()] : [];
  }

  #add(piece: string): void {
    if (piece.length === 0) return;
    this.#bytes += utf8Length(piece);
    if (this.#tooLong) return;
    if (this.#bytes > this.maxLineBytes) {
      this.#tooLong = true;
      this.#parts = [];
    } else {
      this.#parts.push(piece);
    }
  }

  #take(): string | LineTooLong {
    const line = this.#tooLong ? new LineTooLong(this.#bytes) : this.#parts.join("");
    this.#parts = [];
    this.#bytes = 0;
    this.#tooLong = false;
    return line;
  }
}

/** The UTF-8 length of a string, without encoding it (a lone surrogate counts 3, as TextEncoder writes U+FFFD). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
