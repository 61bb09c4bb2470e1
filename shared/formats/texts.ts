/**
 * Text datasets: JSONL, one `{"text": "..."}` per line — the prompts and texts a check evaluates on (challenge
 * prompts, held-out texts, benign prompts). Blank lines are skipped. A bad line is an InputError naming the line,
 * and nothing is kept: the parser returns texts only once the whole input is valid.
 */
import { InputError } from "../errors.ts";
import { JsonlObjects, type LineSplitterOptions, readerLineLimit } from "./line_splitter.ts";
import { pgTextProblem } from "../contracts/text.ts";

/** Incremental parser: feed text chunks as they arrive, then `finish()` for the texts. */
export class TextsParser {
  #texts: string[] = [];
  #jsonl: JsonlObjects;

  /** `lines`: the line cap (none by default; files are read with `readerLineLimit()`). */
  constructor(readonly source: string, lines: LineSplitterOptions = {}) {
    this.#jsonl = new JsonlObjects(
      `must be a JSON object {"text": "..."}`,
      (rule) => this.#error(rule),
      lines,
    );
  }

  /** Feeds a chunk of text; complete lines are parsed now, a partial last line waits for the next chunk. */
  push(chunk: string): void {
    this.#jsonl.push(chunk, (object) => this.#parseObject(object));
  }

  /** Ends the input and returns every text (at least one). */
  finish(): string[] {
    this.#jsonl.end((object) => this.#parseObject(object));
    if (this.#texts.length === 0) {
      throw new InputError(`Cannot read texts '${this.source}' as they must contain at least one text`);
    }
    return this.#texts;
  }

  #parseObject(object: Record<string, unknown>): void {
    const text = object.text;
    if (typeof text !== "string") {
      throw this.#error(
        `must have a string 'text': it is ${
          text === null ? "null" : Array.isArray(text) ? "array" : typeof text
        }`,
      );
    }
    if (text.trim() === "") throw this.#error("'text' must not be empty");
    const problem = pgTextProblem(text);
    if (problem) throw this.#error(`'text' ${problem}`);
    this.#texts.push(text);
  }

  #error(rule: string): InputError {
    return new InputError(`Cannot read texts '${this.source}' as line ${this.#jsonl.line} ${rule}`);
  }
}

export function parseTextsJsonl(text: string, source: string): string[] {
  const parser = new TextsParser(source);
  parser.push(text);
  return parser.finish();
}

/** Streams a JSONL file through the parser; a line over PROFS_MAX_LINE_BYTES (1 MiB) is refused unread. */
export async function readTextsFile(
  path: string,
  source = path,
  lines: LineSplitterOptions = readerLineLimit(),
): Promise<string[]> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new InputError(`Cannot read texts '${source}' as the file must exist: ${(error as Error).message}`);
  }
  const parser = new TextsParser(source, lines);
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) parser.push(chunk);
  return parser.finish();
}
