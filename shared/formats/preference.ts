/**
 * Preference data: JSONL, one pair per line, in any of the four shapes of docs/ARCHITECTURE.md §4 (detected from the first
 * pair; every line must use the same shape). A bad line is an InputError naming the line, and nothing is kept:
 * the parser returns pairs only once the whole input is valid.
 *
 *   {"preferred": "...", "rejected": "..."}
 *   {"prompt": "...", "chosen": "...", "rejected": "..."}                        TRL (text = prompt + response)
 *   {"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}   OpenAI
 *   {"unpert_gen_text": "...", "pert_gen_text": "..."}                           the paper's data (unpert = preferred)
 */
import { InputError } from "../errors.ts";
import { JsonlObjects, type LineSplitterOptions, readerLineLimit } from "./line_splitter.ts";

export type PreferenceFormat = "preferred-rejected" | "trl" | "openai" | "paper";

export interface PreferencePair {
  /** The non-toxic text. */
  preferred: string;
  rejected: string;
}

export interface PreferenceData {
  format: PreferenceFormat;
  pairs: PreferencePair[];
}

const SHAPES = "{preferred, rejected}, {prompt, chosen, rejected}, " +
  "{input, preferred_output, non_preferred_output} or {unpert_gen_text, pert_gen_text}";

/** Which shape an object has, or null. */
export function detectFormat(value: Record<string, unknown>): PreferenceFormat | null {
  if ("unpert_gen_text" in value && "pert_gen_text" in value) return "paper";
  if ("preferred_output" in value && "non_preferred_output" in value) return "openai";
  if ("chosen" in value && "rejected" in value) return "trl";
  if ("preferred" in value && "rejected" in value) return "preferred-rejected";
  return null;
}

/** Incremental parser: feed lines (or text chunks) as they arrive, then `finish()` for the pairs. */
export class PreferenceParser {
  #format: PreferenceFormat | null = null;
  #firstLine = 0;
  #pairs: PreferencePair[] = [];
  #jsonl: JsonlObjects;

  /** `lines`: the line cap (none by default; files are read with `readerLineLimit()`). */
  constructor(readonly source: string, lines: LineSplitterOptions = {}) {
    this.#jsonl = new JsonlObjects(
      `must be a JSON object with one of the shapes ${SHAPES}`,
      (rule) => this.#error(rule),
      lines,
    );
  }

  /** Feeds a chunk of text; complete lines are parsed now, a partial last line waits for the next chunk. */
  push(chunk: string): void {
    this.#jsonl.push(chunk, (object) => this.#parseObject(object));
  }

  /** Ends the input and returns every pair (at least one). */
  finish(): PreferenceData {
    this.#jsonl.end((object) => this.#parseObject(object));
    if (!this.#format || this.#pairs.length === 0) {
      throw new InputError(
        `Cannot read preference data '${this.source}' as it must contain at least one pair`,
      );
    }
    return { format: this.#format, pairs: this.#pairs };
  }

  #parseObject(object: Record<string, unknown>): void {
    const format = detectFormat(object);
    if (!format) {
      throw this.#error(
        `must be a JSON object with one of the shapes ${SHAPES}: it has keys ${
          Object.keys(object).join(", ") || "(none)"
        }`,
      );
    }
    if (this.#format && format !== this.#format) {
      throw this.#error(
        `must have the same shape as line ${this.#firstLine} (${this.#format}): it is ${format}`,
      );
    }
    if (!this.#format) {
      this.#format = format;
      this.#firstLine = this.#jsonl.line;
    }
    this.#pairs.push(this.#pair(format, object));
  }

  #pair(format: PreferenceFormat, o: Record<string, unknown>): PreferencePair {
    switch (format) {
      case "preferred-rejected":
        return { preferred: this.#text(o, "preferred"), rejected: this.#text(o, "rejected") };
      case "paper":
        return { preferred: this.#text(o, "unpert_gen_text"), rejected: this.#text(o, "pert_gen_text") };
      case "trl": {
        const prompt = o.prompt === undefined ? "" : this.#content(o.prompt, "prompt", true);
        return {
          preferred: prompt + this.#content(o.chosen, "chosen"),
          rejected: prompt + this.#content(o.rejected, "rejected"),
        };
      }
      case "openai": {
        const input = o.input;
        const messages = typeof input === "object" && input !== null && !Array.isArray(input)
          ? (input as Record<string, unknown>).messages
          : undefined;
        const prompt = this.#content(messages, "input.messages", true);
        const join = (
          response: string,
        ) => (prompt && response ? `${prompt}\n${response}` : prompt + response);
        return {
          preferred: join(this.#content(o.preferred_output, "preferred_output")),
          rejected: join(this.#content(o.non_preferred_output, "non_preferred_output")),
        };
      }
    }
  }

  #text(o: Record<string, unknown>, key: string): string {
    return this.#content(o[key], key);
  }

  /** A string, or a list of chat messages ({content: string}) joined by newlines. */
  #content(value: unknown, key: string, emptyOk = false): string {
    let text: string;
    if (typeof value === "string") {
      text = value;
    } else if (Array.isArray(value)) {
      text = value.map((m, i) => {
        const content = typeof m === "object" && m !== null
          ? (m as Record<string, unknown>).content
          : undefined;
        if (typeof content !== "string") {
          throw this.#error(`'${key}[${i}]' must be a message with string 'content'`);
        }
        return content;
      }).join("\n");
    } else {
      throw this.#error(
        `'${key}' must be a string or a list of messages: it is ${value === null ? "null" : typeof value}`,
      );
    }
    if (!emptyOk && text.trim() === "") throw this.#error(`'${key}' must not be empty`);
    return text;
  }

  #error(rule: string): InputError {
    return new InputError(`Cannot read preference data '${this.source}' as line ${this.#jsonl.line} ${rule}`);
  }
}

export function parsePreferenceJsonl(text: string, source: string): PreferenceData {
  const parser = new PreferenceParser(source);
  parser.push(text);
  return parser.finish();
}

/** Streams a JSONL file through the parser; a line over PROFS_MAX_LINE_BYTES (1 MiB) is refused unread. */
export async function readPreferenceFile(
  path: string,
  lines: LineSplitterOptions = readerLineLimit(),
): Promise<PreferenceData> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new InputError(
      `Cannot read preference data '${path}' as it must exist: ${(error as Error).message}`,
    );
  }
  const parser = new PreferenceParser(path, lines);
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) parser.push(chunk);
  return parser.finish();
}
