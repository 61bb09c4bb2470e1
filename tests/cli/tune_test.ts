/**
 * `profs tune` as a user runs it: one line on stdout per result (the choice, the rule, the default's figures),
 * a trial line with trials/s on stderr per trial off a terminal, the folder's files; bad flags and a pairs file
 * too small to hold pairs out exit 1 with one line, before any model work.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { buildTriggerPairs } from "../../infra/demo/data.ts";
import { pairsJsonl, writeDemoModel } from "../../infra/demo/write_demo.ts";

const root = await Deno.makeTempDir({ prefix: "profs-tune-cli-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const model = join(root, "model");
await Deno.mkdir(model);
await writeDemoModel(model);
const pairs = join(root, "pairs.jsonl");
await Deno.writeTextFile(pairs, pairsJsonl(buildTriggerPairs(40)));

async function captured(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { log, error } = console;
  let stdout = "", stderr = "";
  console.log = (...a: unknown[]) => stdout += a.join(" ") + "\n";
  console.error = (...a: unknown[]) => stderr += a.join(" ") + "\n";
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("profs tune searches, prints the choice and writes the edit, tune.json and report.html", async () => {
  const out = join(root, "out");
  const { code, stdout, stderr } = await captured([
    "tune",
    "--model",
    model,
    "--pairs",
    pairs,
    "--out",
    out,
    "--max-rank",
    "2",
    "--layers-grid",
    "1,3",
    "--centering",
    "on",
    "--backend",
    "cpu",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^searched 4 of 4 candidates \([\d.]+ trials\/s\)$/m);
  assert.match(stdout, /^chose layers \d:4, rank [12], centering on: margin gain /m);
  assert.match(stdout, /^rule: the smallest KL to the base among the trials reaching ≥ 90%/m);
  assert.match(stdout, /^note: KL and perplexity are measured on the held-out preferred texts/m);
  assert.equal(
    [...stderr.matchAll(/^\[trial \d\/4\] \d:4\/r\d\/c1: margin gain .* trials\/s\)$/gm)].length,
    4,
  );
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  for (
    const f of [
      "model.safetensors",
      "patch.safetensors",
      "report.json",
      "tune.json",
      "report.html",
      "trials.jsonl",
    ]
  ) {
    assert.ok(files.includes(f), `${f} in ${files}`);
  }
});

Deno.test("profs tune --time stops starting trials once the time is spent, after one at least", async () => {
  const out = join(root, "timed");
  const { code, stdout, stderr } = await captured([
    "tune",
    "--model",
    model,
    "--pairs",
    pairs,
    "--out",
    out,
    "--max-rank",
    "2",
    "--layers-grid",
    "1,3",
    "--time",
    "0.001",
    "--backend",
    "cpu",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^searched 1 of 8 candidates/m);
  assert.match(
    stdout,
    /^note: The budget allowed 1 of 8 candidates \(seeded order\): the front is of those\.$/m,
  );
  const doc = JSON.parse(await Deno.readTextFile(join(out, "tune.json")));
  assert.deepEqual(doc.search.budget, { trials: null, seconds: 0.001 });
});

Deno.test("profs tune refuses bad flags and too few pairs to hold out in one line, before any model work", async () => {
  const cases: [string[], RegExp][] = [
    [["--trials", "0"], /'--trials' must be a positive integer: current value is '0'/],
    [["--trials", "2", "--time", "5"], /at most one of '--trials' and '--time'/],
    [["--layers-grid", "7"], /'--layers-grid' must list starts or FROM:TO ranges with 0 ≤ FROM < TO ≤ 4/],
    [["--objective", "toxicity"], /needs challenge prompts \('--prompts'\)/],
    [["--max-kl", "x"], /'--max-kl' must be a non-negative number/],
  ];
  for (const [flags, message] of cases) {
    const out = join(root, `bad-${flags[0].slice(2)}`);
    const { code, stderr } = await captured([
      "tune",
      "--model",
      model,
      "--pairs",
      pairs,
      "--out",
      out,
      ...flags,
    ]);
    assert.equal(code, 1, flags.join(" "));
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /\[embedding\]/);
    assert.ok(!await Deno.stat(out).then(() => true, () => false), `${out} left behind`);
  }
  const few = join(root, "few.jsonl");
  await Deno.writeTextFile(few, pairsJsonl(buildTriggerPairs(20)));
  const { code, stderr } = await captured([
    "tune",
    "--model",
    model,
    "--pairs",
    few,
    "--out",
    join(root, "few"),
  ]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /Cannot tune as it measures each candidate on held-out pairs: .*at least 32 usable pairs/,
  );
  assert.ok(!await Deno.stat(join(root, "few")).then(() => true, () => false), "nothing left behind");
});
