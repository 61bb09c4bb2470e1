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
    [["--trials", "0"], /'--trials' must be an integer from 1 to 10000: current value is '0'$/m],
    [["--trials", "2", "--time", "5"], /at most one of '--trials' and '--time' may be given$/m],
    [
      ["--max-rank", "65"],
      /^profs tune: Cannot tune as '--max-rank' must be an integer from 1 to 64: current value is '65'$/m,
    ],
    [
      ["--layers-grid", "7"],
      /Cannot tune layers 7 as a layers grid item must be a start below 4 or FROM:TO with 0 ≤ FROM < TO ≤ 4/,
    ],
    [["--objective", "toxicity"], /needs challenge prompts \('--prompts'\)/],
    [["--max-kl", "x"], /'--max-kl' must be a non-negative number \(nats\): current value is 'x'$/m],
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
    // One line of error; a stage's progress line may come first (the grid is bounded once the model is open).
    const lines = stderr.trimEnd().split("\n").filter((l) => !/^\[[a-z_]+\] \d+\/\d+$/.test(l));
    assert.equal(lines.length, 1, stderr);
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

Deno.test("profs tune and profs tunes create refuse the same bad flags with the same line (the API's limits)", async () => {
  const grid65 = Array.from({ length: 65 }, (_, i) => i % 4).join(",");
  const table: string[][] = [
    ["--max-rank", "65"],
    ["--max-rank", "0"],
    ["--max-rank", "2.5"],
    ["--layers-grid", "1;2"],
    ["--layers-grid", "3:2"],
    ["--layers-grid", grid65],
    ["--centering", "sometimes"],
    ["--trials", "10001"],
    ["--trials", "2", "--time", "5"],
    ["--time", "0"],
    ["--time", "604801"],
    ["--time", "1e3"],
    ["--max-kl=-1"],
    ["--objective", "loss"],
    ["--holdout", "0.6"],
    ["--max-pairs", "100001"],
    ["--max-tokens", "4097"],
    ["--seed", "4294967296"],
  ];
  for (const flags of table) {
    const out = join(root, "same-line");
    const offline = await captured(["tune", "--model", model, "--pairs", pairs, "--out", out, ...flags]);
    const client = await captured(["tunes", "create", "--model", "m", "--dataset", "d", ...flags]);
    assert.equal(offline.code, 1, `profs tune ${flags.join(" ")}: ${offline.stderr}`);
    assert.equal(client.code, 1, `profs tunes create ${flags.join(" ")}: ${client.stderr}`);
    const line = offline.stderr.replace(/^profs tune: /, "");
    assert.match(line, /^Cannot tune as [^\n]*'--[a-z-]+'[^\n]*\n$/, flags.join(" "));
    assert.equal(client.stderr.replace(/^profs tunes: /, ""), line, flags.join(" "));
    assert.ok(!await Deno.stat(out).then(() => true, () => false), `${out} left behind`);
  }
});
