import assert from "node:assert/strict";
import { join } from "node:path";
import { decode as oracleDecode, encode as oracleEncode } from "gpt-3-encoder";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
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
