import assert from "node:assert/strict";
import { parseTextsJsonl, readTextsFile, TextsParser } from "../../shared/formats/texts.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("texts JSONL: one {text} per line, blank lines skipped, CRLF and a BOM accepted", () => {
  const texts = parseTextsJsonl('\uFEFF{"text": "one"}\r\n\n{"text": "two", "source": "x"}', "t.jsonl");
  assert.deepEqual(texts, ["one", "two"]);
});

Deno.test("texts JSONL: chunks split mid-line give the same texts", () => {
  const text = ["alpha", "beta gamma", "δ"].map((t) => JSON.stringify({ text: t })).join("\n");
  const parser = new TextsParser("t.jsonl");
  for (let i = 0; i < text.length; i += 3) parser.push(text.slice(i, i + 3));
  assert.deepEqual(parser.finish(), ["alpha", "beta gamma", "δ"]);
});

Deno.test("texts JSONL: a bad line is an InputError naming the line; no text is no dataset", () => {
  const cases: [string, RegExp][] = [
    ['{"text": "a"}\n{oops', /line 2 must be valid JSON/],
    ['{"text": "a"}\n\n"just a string"', /line 3 must be a JSON object/],
    ['{"prompt": "a"}', /line 1 must have a string 'text': it is undefined/],
    ['{"text": ["a"]}', /line 1 must have a string 'text': it is array/],
    ['{"text": " "}', /line 1 'text' must not be empty/],
    ["\n\n", /must contain at least one text/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseTextsJsonl(text, "t.jsonl"),
      (e) => e instanceof InputError && message.test(e.message),
    );
  }
});

Deno.test("texts JSONL: read from a file; a missing file is the user's error", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    await Deno.writeTextFile(path, '{"text": "from disk"}\n');
    assert.deepEqual(await readTextsFile(path), ["from disk"]);
    await assert.rejects(
      readTextsFile(path + ".missing", "x"),
      /Cannot read texts 'x' as the file must exist/,
    );
  } finally {
    await Deno.remove(path);
  }
});
