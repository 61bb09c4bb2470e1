import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../shared/errors.ts";
import {
  parsePreferenceJsonl,
  PreferenceParser,
  readPreferenceFile,
} from "../../shared/formats/preference.ts";
import { sampleIndices, samplePairs } from "../../gpu-worker/edit/sample.ts";

const jsonl = (...lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join("\n") + "\n";

Deno.test("the four JSONL shapes are detected and read", () => {
  assert.deepEqual(parsePreferenceJsonl(jsonl({ preferred: "a", rejected: "b" }), "x"), {
    format: "preferred-rejected",
    pairs: [{ preferred: "a", rejected: "b" }],
  });
  assert.deepEqual(parsePreferenceJsonl(jsonl({ prompt: "Q: ", chosen: "yes", rejected: "no" }), "x"), {
    format: "trl",
    pairs: [{ preferred: "Q: yes", rejected: "Q: no" }],
  });
  const openai = {
    input: { messages: [{ role: "user", content: "Say hi" }] },
    preferred_output: [{ role: "assistant", content: "Hi!" }],
    non_preferred_output: [{ role: "assistant", content: "Go away." }],
  };
  assert.deepEqual(parsePreferenceJsonl(jsonl(openai), "x"), {
    format: "openai",
    pairs: [{ preferred: "Say hi\nHi!", rejected: "Say hi\nGo away." }],
  });
  const paper = { prompt_text: "The", unpert_gen_text: "The cat sat.", pert_gen_text: "The cat swore." };
  assert.deepEqual(parsePreferenceJsonl(jsonl(paper), "x"), {
    format: "paper",
    pairs: [{ preferred: "The cat sat.", rejected: "The cat swore." }],
  });
});

Deno.test("blank lines, CRLF and a missing final newline are accepted", () => {
  const text = '{"preferred":"a","rejected":"b"}\r\n\r\n{"preferred":"c","rejected":"d"}';
  assert.deepEqual(parsePreferenceJsonl(text, "x").pairs.map((p) => p.preferred), ["a", "c"]);
});

Deno.test("chunks split mid-line parse the same as whole text", () => {
  const text = jsonl({ preferred: "é😀", rejected: "b" }, { preferred: "c", rejected: "d" });
  const parser = new PreferenceParser("x");
  for (let i = 0; i < text.length; i += 7) parser.push(text.slice(i, i + 7));
  assert.deepEqual(parser.finish(), parsePreferenceJsonl(text, "x"));
});

for (
  const [name, text, message] of [
    ["invalid JSON", '{"preferred":"a","rejected":"b"}\n{"preferred":', /line 2 must be valid JSON/],
    ["a non-object", '{"preferred":"a","rejected":"b"}\n\n[1,2]\n', /line 3 must be a JSON object/],
    [
      "unknown keys",
      '{"text":"a","label":1}\n',
      /line 1 must be a JSON object with one of the shapes .*: it has keys text, label/,
    ],
    [
      "mixed shapes",
      jsonl({ preferred: "a", rejected: "b" }, { chosen: "a", rejected: "b" }),
      /line 2 must have the same shape as line 1 \(preferred-rejected\): it is trl/,
    ],
    [
      "a number text",
      jsonl({ preferred: 3, rejected: "b" }),
      /line 1 'preferred' must be a string or a list of messages: it is number/,
    ],
    [
      "an empty text",
      jsonl({ preferred: "a", rejected: "b" }, { preferred: " ", rejected: "b" }),
      /line 2 'preferred' must not be empty/,
    ],
    [
      "a bad message",
      jsonl({ input: { messages: [{ role: "user" }] }, preferred_output: [], non_preferred_output: [] }),
      /line 1 'input.messages\[0\]' must be a message with string 'content'/,
    ],
    ["no pairs", "\n\n", /must contain at least one pair/],
  ] as const
) {
  Deno.test(`preference data with ${name} is a line-numbered error`, () => {
    assert.throws(() => parsePreferenceJsonl(text, "data.jsonl"), (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /^Cannot read preference data 'data.jsonl' as /);
      assert.match(e.message, message);
      return true;
    });
  });
}

Deno.test("readPreferenceFile streams a file and names it in errors", async () => {
  const dir = await Deno.makeTempDir();
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const path = join(dir, "pairs.jsonl");
  await Deno.writeTextFile(
    path,
    jsonl(...Array.from({ length: 300 }, (_, i) => ({ preferred: `p${i}`, rejected: `r${i}` }))),
  );
  const data = await readPreferenceFile(path);
  assert.equal(data.pairs.length, 300);
  assert.deepEqual(data.pairs[299], { preferred: "p299", rejected: "r299" });
  await Deno.writeTextFile(path, jsonl({ preferred: "a", rejected: "b" }) + "oops\n");
  await assert.rejects(readPreferenceFile(path), new RegExp(`'${path}' as line 2 must be valid JSON`));
  await assert.rejects(readPreferenceFile(join(dir, "none.jsonl")), /must exist/);
});

Deno.test("sampling keeps pairs aligned, is seeded, and keeps everything when under the cap", () => {
  const pairs = Array.from({ length: 1000 }, (_, i) => ({ preferred: `p${i}`, rejected: `r${i}` }));
  const a = samplePairs(pairs, 500, 7);
  assert.equal(a.length, 500);
  for (const p of a) assert.equal(p.preferred.slice(1), p.rejected.slice(1));
  assert.deepEqual(samplePairs(pairs, 500, 7), a, "same seed, same sample");
  assert.notDeepEqual(samplePairs(pairs, 500, 8), a, "another seed, another sample");
  const idx = sampleIndices(1000, 500, 7);
  assert.deepEqual(idx, [...new Set(idx)].sort((x, y) => x - y), "distinct and sorted");
  assert.deepEqual(sampleIndices(5, 500, 1), [0, 1, 2, 3, 4]);
  assert.throws(() => sampleIndices(5, 0, 1), /'--max-pairs' must be a positive integer: current value is 0/);
});
