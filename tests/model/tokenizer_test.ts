import assert from "node:assert/strict";
import { join } from "node:path";
import { decode as oracleDecode, encode as oracleEncode } from "gpt-3-encoder";
import { boundedPrefix, loadTokenizer, MAX_CHARS_PER_TOKEN } from "../../shared/model/tokenizer.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { gpt2TokenizerJson } from "../../infra/demo/gpt2_tokenizer_json.ts";

const dir = await Deno.makeTempDir({ prefix: "profs-tokenizer-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
await Deno.writeTextFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());

const SAMPLES = [
  "Hello world",
  "  leading spaces and trailing  ",
  "I'm sure they'll say it's fine, won't they?",
  "Numbers 1234567 and symbols #@!$%^&*()",
  "Unicode: café, naïve, 東京, emoji 🤖",
  "line one\nline two\n\n\ttabbed",
];

Deno.test("the GPT-2 tokenizer.json encodes exactly like the gpt-3-encoder reference", async () => {
  const tokenizer = await loadTokenizer(dir);
  assert.deepEqual(tokenizer.encode("Hello world"), [15496, 995]);
  for (const text of SAMPLES) {
    assert.deepEqual(tokenizer.encode(text), oracleEncode(text), text);
  }
});

Deno.test("the GPT-2 tokenizer decodes ids back to the text", async () => {
  const tokenizer = await loadTokenizer(dir);
  for (const text of SAMPLES) {
    const ids = tokenizer.encode(text);
    assert.equal(tokenizer.decode(ids), text);
    assert.equal(tokenizer.decode(ids), oracleDecode(ids));
  }
});

Deno.test("the GPT-2 tokenizer reports <|endoftext|> and the full vocabulary", async () => {
  const tokenizer = await loadTokenizer(dir);
  assert.equal(tokenizer.eosTokenId, 50256);
  assert.equal(tokenizer.vocabSize, 50257);
  assert.equal(tokenizer.decode([50256]), "<|endoftext|>");
});

Deno.test("a folder without tokenizer.json is a clear error", async () => {
  const empty = await Deno.makeTempDir();
  globalThis.addEventListener("unload", () => Deno.removeSync(empty, { recursive: true }));
  await assert.rejects(loadTokenizer(empty), /must contain tokenizer.json/);
});

Deno.test("decode([]) is the empty string (a continuation whose first greedy token is end-of-text)", async () => {
  const tokenizer = await loadTokenizer(dir);
  assert.equal(tokenizer.decode([]), "");
});

Deno.test("boundedPrefix keeps short texts whole and cuts a long one at whitespace within maxTokens × MAX_CHARS_PER_TOKEN", () => {
  assert.equal(boundedPrefix("Hello world", 2), "Hello world");
  const words = "word ".repeat(10_000);
  const prefix = boundedPrefix(words, 4);
  assert.ok(prefix.length <= 4 * MAX_CHARS_PER_TOKEN, `${prefix.length}`);
  assert.ok(prefix.length >= 2 * MAX_CHARS_PER_TOKEN, `${prefix.length}`);
  assert.ok(words.charAt(prefix.length) === " ", "the cut falls before whitespace, between pre-tokens");
  // one giant word: cut at the bound, never between a surrogate pair's halves
  const emoji = "🤖".repeat(1000);
  const cut = boundedPrefix(emoji, 3);
  assert.ok(cut.length <= 3 * MAX_CHARS_PER_TOKEN);
  assert.equal(cut.length % 2, 0);
});

Deno.test("encode(text, maxTokens) gives the whole text's first maxTokens ids, tokenizing only a bounded prefix", async () => {
  const tokenizer = await loadTokenizer(dir);
  const text = SAMPLES.join(" ").repeat(200);
  for (const maxTokens of [1, 7, 128]) {
    assert.deepEqual(
      tokenizer.encode(text, maxTokens),
      oracleEncode(text).slice(0, maxTokens),
      `${maxTokens}`,
    );
  }
  // A 20 MB single "word" (the poison line) would take gigabytes to tokenize whole.
  const poison = "a".repeat(20_000_000);
  const ids = tokenizer.encode(poison, 128);
  assert.equal(ids.length, 128);
});

Deno.test("encodeTexts hands the tokenizer maxTokens, so a poison text costs what a short one does", () => {
  const seen: (number | undefined)[] = [];
  const tokenizer = {
    encode: (text: string, maxTokens?: number) => {
      seen.push(maxTokens);
      return [...text.slice(0, maxTokens)].map(() => 1);
    },
  };
  const ids = encodeTexts(tokenizer, { prependTokens: [0], vocabSize: 2 }, ["a".repeat(1_000_000)], 128);
  assert.equal(ids[0].length, 128);
  assert.deepEqual(seen, [128]);
});
