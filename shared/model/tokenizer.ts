/**
 * The model's tokenizer from its `tokenizer.json` (and `tokenizer_config.json` when present), via Hugging Face's
 * maintained JavaScript port `@huggingface/tokenizers`.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { join } from "node:path";
import { InputError } from "../errors.ts";

export interface Tokenizer {
  /**
   * Token ids of `text`, without special tokens added (GPT-2 adds none anyway). With `maxTokens`, at most that
   * many, from a bounded prefix of the text (`boundedPrefix`): the work and memory do not grow with the text.
   */
  encode(text: string, maxTokens?: number): number[];
  decode(ids: number[]): string;
  /** The vocabulary piece of `id` (e.g. `<0x2C>`, `Ġthe`), or null when the id is unknown. */
  idToToken(id: number): string | null;
  /** End-of-text token (`<|endoftext|>` for GPT-2), or null when the tokenizer has none. */
  eosTokenId: number | null;
  /** Number of ids, added tokens included. */
  vocabSize: number;
}

/**
 * Characters tokenized per wanted token. Tokens of real text average about 4 characters; the longest pieces of
 * common vocabularies (runs of spaces or of one character) stay under 64. A text needing more than this per
 * token is one no model reads usefully, and tokenizing all of it could take gigabytes (one 50 MB line did).
 */
export const MAX_CHARS_PER_TOKEN = 64;

/**
 * The part of `text` worth tokenizing for its first `maxTokens` tokens: the whole text when it is at most
 * maxTokens × MAX_CHARS_PER_TOKEN characters, else a prefix that long, cut back to the last whitespace in its
 * second half when there is one (a pre-token boundary for byte-level BPE and metaspace tokenizers, so the
 * tokens before the cut are the whole text's), and never between the halves of a surrogate pair.
 */
export function boundedPrefix(text: string, maxTokens: number): string {
  const bound = Math.max(1, maxTokens) * MAX_CHARS_PER_TOKEN;
  if (text.length <= bound) return text;
  for (let i = bound; i > bound / 2; i--) {
    if (/\s/.test(text[i])) return text.slice(0, i);
  }
  const code = text.charCodeAt(bound - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? bound - 1 : bound);
}

const EOS_CANDIDATES = ["<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>"];

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const json = await readJson(join(dir, "tokenizer.json"), dir, true);
  const tokenizerConfig = (await readJson(join(dir, "tokenizer_config.json"), dir, false)) ?? {};
  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(json, tokenizerConfig);
  } catch (error) {
    throw new InputError(
      `Cannot load the tokenizer of '${dir}' as tokenizer.json must be a supported tokenizer: ${
        (error as Error).message
      }`,
    );
  }
  const vocab = tokenizer.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const configured = typeof tokenizerConfig.eos_token === "string" ? [tokenizerConfig.eos_token] : [];
  const eosTokenId = [...configured, ...EOS_CANDIDATES]
    .map((token) => tokenizer.token_to_id(token))
    .find((id) => id !== undefined) ?? null;
  return {
    encode: (text, maxTokens) =>
      maxTokens === undefined
        ? tokenizer.encode(text, { add_special_tokens: false }).ids
        : tokenizer.encode(boundedPrefix(text, maxTokens), { add_special_tokens: false }).ids.slice(
          0,
          maxTokens,
        ),
    // No tokens decode to "" (a greedy continuation whose first token is end-of-text); the library throws on [].
    decode: (ids) =>
      ids.length === 0
        ? ""
        : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    idToToken: (id) => tokenizer.id_to_token(id) ?? null,
    eosTokenId,
    vocabSize: maxId + 1,
  };
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/** GPT-2's byte-level alphabet inverted: the printable stand-in character of each byte → the byte. */
const BYTE_LEVEL = (() => {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) map.set(String.fromCodePoint(printable(b) ? b : next++), b);
  return map;
})();

/** Bytes as text, each byte that is not part of a whole UTF-8 character written `<0xNN>`. */
function bytesReadably(bytes: number[]): string {
  let out = "";
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i];
    const length = lead < 0x80
      ? 1
      : lead >= 0xf0 && lead < 0xf8
      ? 4
      : lead >= 0xe0
      ? 3
      : lead >= 0xc0
      ? 2
      : 0;
    const tail = bytes.slice(i + 1, i + length);
    if (length > 0 && tail.length === length - 1 && tail.every((b) => (b & 0xc0) === 0x80)) {
      out += new TextDecoder().decode(Uint8Array.from(bytes.slice(i, i + length)));
      i += length;
    } else {
      out += `<0x${lead.toString(16).toUpperCase().padStart(2, "0")}>`;
      i++;
    }
  }
  return out;
}

/**
 * A token as a reader should see it in a report: its decoded text, or, when that is not whole characters (a
 * byte-fallback piece `<0xC3>`, a byte-level piece holding half of "é"), the whole characters it has and `<0xNN>`
 * for the other bytes — never "\uFFFD".
 */
export function readableToken(tokenizer: Pick<Tokenizer, "decode" | "idToToken">, id: number): string {
  const text = tokenizer.decode([id]);
  if (!text.includes("\uFFFD")) return text;
  const piece = tokenizer.idToToken(id);
  if (piece === null) return text;
  if (BYTE_TOKEN.test(piece)) return piece;
  const chars = [...piece];
  if (chars.every((c) => BYTE_LEVEL.has(c))) return bytesReadably(chars.map((c) => BYTE_LEVEL.get(c)!));
  return text;
}

async function readJson(path: string, dir: string, required: true): Promise<Record<string, unknown>>;
async function readJson(path: string, dir: string, required: false): Promise<Record<string, unknown> | null>;
async function readJson(
  path: string,
  dir: string,
  required: boolean,
): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    if (!required) return null;
    throw new InputError(`Cannot load the tokenizer of '${dir}' as the folder must contain tokenizer.json`);
  }
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below with the file name
  }
  throw new InputError(`Cannot load the tokenizer of '${dir}' as ${path} must be a JSON object`);
}
