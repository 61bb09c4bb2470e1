/**
 * The model's tokenizer from its `tokenizer.json` (and `tokenizer_config.json` when present), via Hugging Face's
 * maintained JavaScript port `@huggingface/tokenizers`.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { join } from "node:path";
import { InputError } from "../errors.ts";

export interface Tokenizer {
  /** Token ids of `text`, without special tokens added (GPT-2 adds none anyway). */
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** The vocabulary piece of `id` (e.g. `<0x2C>`, `Ġthe`), or null when the id is unknown. */
  idToToken(id: number): string | null;
  /** End-of-text token (`<|endoftext|>` for GPT-2), or null when the tokenizer has none. */
  eosTokenId: number | null;
  /** Number of ids, added tokens included. */
  vocabSize: number;
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
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) =>
      tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    idToToken: (id) => tokenizer.id_to_token(id) ?? null,
    eosTokenId,
    vocabSize: maxId + 1,
  };
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
