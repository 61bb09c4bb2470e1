/**
 * Generated tokens → text as it becomes final, for streaming output. Decoding token by token is wrong twice over:
 * a byte-level BPE token can hold part of a UTF-8 character (its decode ends in U+FFFD until the next token
 * completes it), and a SentencePiece decoder treats a sequence's first piece specially (the leading `▁` is
 * dropped). So each step decodes a short window — the tokens already shown since the last boundary (`prefix`)
 * and those not yet shown — and emits what the window adds beyond the prefix's text, unless it ends in an
 * incomplete character; then the window moves on. Each step decodes two short windows, never the whole text,
 * and nothing is ever tokenized again. The pieces concatenate to `tokenizer.decode(all tokens)`.
 */
import type { TextTokenizer } from "./runner.ts";

export interface TextStream {
  /** A new token; returns the text it completes ("" while a character or piece is still incomplete). */
  push(token: number): string;
  /** The text still held back (an incomplete character at the very end), once no token will follow. */
  end(): string;
}

export function createTextStream(tokenizer: Pick<TextTokenizer, "decode">): TextStream {
  const tokens: number[] = [];
  let prefixStart = 0; // first token of the window
  let readStart = 0; // first token whose text has not been emitted
  const windowText = (from: number, to: number) =>
    from === to ? "" : tokenizer.decode(tokens.slice(from, to));
  const advance = (final: boolean): string => {
    const prefix = windowText(prefixStart, readStart);
    const whole = windowText(prefixStart, tokens.length);
    if (whole.length <= prefix.length || (!final && whole.endsWith("\uFFFD"))) return "";
    prefixStart = readStart;
    readStart = tokens.length;
    return whole.slice(prefix.length);
  };
  return {
    push(token) {
      tokens.push(token);
      return advance(false);
    },
    end() {
      return readStart < tokens.length ? advance(true) : "";
    },
  };
}
