import assert from "node:assert/strict";
import { JsonlObjects, LineSplitter, LineTooLong, utf8Length } from "../../shared/formats/line_splitter.ts";

Deno.test("LineSplitter joins a line streamed in many chunks and keeps a partial last line", () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push("ab"), []);
  assert.deepEqual(splitter.push("c\nde"), ["abc"]);
  assert.deepEqual(splitter.push("f\n\ng"), ["def", ""]);
  assert.deepEqual(splitter.end(), ["g"]);
  assert.deepEqual(splitter.end(), []);
});

Deno.test("LineSplitter: a line exactly at maxLineBytes passes, one byte over is a LineTooLong with its size", () => {
  const splitter = new LineSplitter({ maxLineBytes: 4 });
  assert.deepEqual(splitter.push("abcd\nabcde\n"), ["abcd", new LineTooLong(5)]);
  // bytes, not characters: "é" is 2 bytes in UTF-8, "🤖" 4
  assert.deepEqual(splitter.push("éé\néé"), ["éé"]);
  assert.deepEqual(splitter.push("a\n🤖\n"), [new LineTooLong(5), "🤖"]);
});

Deno.test("LineSplitter drops an over-long line's text as it streams instead of holding it", () => {
  const splitter = new LineSplitter({ maxLineBytes: 10 });
  for (let i = 0; i < 1000; i++) assert.deepEqual(splitter.push("x".repeat(1000)), []);
  assert.equal(splitter.heldBytes, 0, "nothing of an over-long line is kept");
  assert.deepEqual(splitter.push("\nok\n"), [new LineTooLong(1_000_000), "ok"]);
  assert.deepEqual(splitter.push("y".repeat(20)), []);
  assert.deepEqual(splitter.end(), [new LineTooLong(20)]);
});

Deno.test("utf8Length counts UTF-8 bytes", () => {
  for (const s of ["", "a", "é", "東京", "🤖", "a🤖é\n"]) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).length, s);
  }
});

Deno.test("LineSplitter scans each character a bounded number of times: a long line in small chunks is linear", () => {
  // Counting work, not time: `scannedChars` is what the splitter read. A splitter that re-joins its carry with
  // every chunk (the old `(carry + chunk).split("\n")`) reads Θ(n²/chunk) characters here.
  const chunk = "z".repeat(1024);
  const splitter = new LineSplitter();
  for (let i = 0; i < 4096; i++) splitter.push(chunk);
  assert.equal((splitter.end()[0] as string).length, 4096 * 1024);
  assert.ok(splitter.scannedChars <= 2 * 4096 * 1024, `scanned ${splitter.scannedChars}`);
});

Deno.test("JsonlObjects names an over-long line and the cap, then goes on with the next line", () => {
  const seen: unknown[] = [];
  const errors: string[] = [];
  const jsonl = new JsonlObjects("must be an object", (rule) => new Error(rule), { maxLineBytes: 16 });
  for (const line of ['{"a":1}\n', `{"a":"${"x".repeat(100)}"}\n`, '{"b":2}\n']) {
    try {
      jsonl.push(line, (o) => seen.push(o));
    } catch (error) {
      errors.push(`line ${jsonl.line} ${(error as Error).message}`);
    }
  }
  assert.deepEqual(seen, [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(errors, ["line 2 must be at most 16 bytes: it has 108"]);
});

Deno.test("readers cap each line at PROFS_MAX_LINE_BYTES (1 MiB by default) and name the limit", async () => {
  const { readerLineLimit } = await import("../../shared/formats/line_splitter.ts");
  const { readPreferenceFile } = await import("../../shared/formats/preference.ts");
  const { readTextsFile } = await import("../../shared/formats/texts.ts");
  const { InputError } = await import("../../shared/errors.ts");
  const env = (value: string | undefined) => () => value;
  assert.deepEqual(readerLineLimit(env(undefined)), {
    maxLineBytes: 1024 ** 2,
    limitName: "PROFS_MAX_LINE_BYTES",
  });
  assert.equal(readerLineLimit(env("64")).maxLineBytes, 64);
  for (const bad of ["0", "1.5", "big"]) assert.throws(() => readerLineLimit(env(bad)), InputError);

  const dir = await Deno.makeTempDir();
  try {
    const pairs = `${dir}/pairs.jsonl`;
    const long = JSON.stringify({ preferred: "a".repeat(1024 ** 2), rejected: "b" });
    await Deno.writeTextFile(pairs, `{"preferred":"x","rejected":"y"}\n${long}\n`);
    await assert.rejects(
      readPreferenceFile(pairs),
      new RegExp(`line 2 must be at most 1048576 bytes \\(PROFS_MAX_LINE_BYTES\\): it has ${long.length}$`),
    );
    const texts = `${dir}/texts.jsonl`;
    await Deno.writeTextFile(texts, `{"text":"${"t".repeat(100)}"}\n`);
    await assert.rejects(
      readTextsFile(texts, "texts", readerLineLimit(env("64"))),
      /line 1 must be at most 64 bytes \(PROFS_MAX_LINE_BYTES\): it has 111/,
    );
    assert.deepEqual(await readTextsFile(texts, "texts", readerLineLimit(env("111"))), ["t".repeat(100)]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
