/** `profs generate` and `profs check` offline on the tiny GPT-2 fixture, through main() as typed. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

async function capture(args: string[]): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const { log } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  try {
    return { code: await main(args), stdout: out.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("profs generate continues a prompt greedily and deterministically; --json gives text and tokens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-generate-" });
  try {
    await writeTinyGpt2(dir, { layers: 2, hidden: 24 });
    const args = ["generate", "--model", dir, "--max-new-tokens", "4", "--json", "you are"];
    const first = await capture(args);
    assert.equal(first.code, 0);
    const result = JSON.parse(first.stdout);
    assert.equal(result.prompt, "you are");
    assert.ok(result.tokens.length >= 1 && result.tokens.length <= 4);
    assert.equal(typeof result.text, "string");
    assert.deepEqual(JSON.parse((await capture(args)).stdout), result, "greedy: the same every time");

    // Without --json the text streams to stdout piece by piece and adds up to the same continuation.
    const written: string[] = [];
    const writeSync = Deno.stdout.writeSync;
    Deno.stdout.writeSync = (
      bytes: Uint8Array,
    ) => (written.push(new TextDecoder().decode(bytes)), bytes.length);
    try {
      assert.equal((await capture(args.filter((a) => a !== "--json"))).code, 0);
    } finally {
      Deno.stdout.writeSync = writeSync;
    }
    assert.ok(written.length >= 1);
    assert.equal(written.join(""), result.text);
    assert.equal(await main(["generate", "--model", dir]), 1, "a prompt is required");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("profs check scores a model, and an edited one against its base with KL, writing check.json", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-check-" });
  try {
    const model = join(dir, "model");
    await writeTinyGpt2(model, { layers: 2, hidden: 24 });
    const prompts = join(dir, "prompts.jsonl");
    await Deno.writeTextFile(prompts, '{"text": "you are such a"}\n{"text": "shut up"}\n');
    const alone = await capture([
      "check",
      "--model",
      model,
      "--backend",
      "cpu",
      "--prompts",
      prompts,
      "--json",
    ]);
    assert.equal(alone.code, 0);
    const figures = JSON.parse(alone.stdout);
    assert.equal(figures.check.toxicity.prompts, 2);
    assert.ok(Number.isFinite(figures.check.perplexity.value));

    const out = join(dir, "out");
    const paired = await capture([
      "check",
      "--model",
      model,
      "--base",
      model,
      "--backend",
      "cpu",
      "--max-new-tokens",
      "2",
      "--out",
      out,
      "--json",
    ]);
    assert.equal(paired.code, 0);
    const both = JSON.parse(await Deno.readTextFile(join(out, "check.json")));
    assert.ok(Math.abs(both.after.kl.mean) < 1e-6, "a model against itself: KL 0");
    assert.equal(both.before.toxicity.mean, both.after.toxicity.mean);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
