/**
 * `profs generate --model DIR "prompt"`: greedy continuation of a prompt with a model folder, offline, printed
 * token by token as it is produced (one decode step per token, so the text streams).
 */
import { parseArgs } from "node:util";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { lmFamilyFrom } from "../lm/family.ts";
import { createLmCpuRunner } from "../lm/runner.ts";

export const USAGE = `usage: profs generate --model DIR [--max-new-tokens N] [--json] PROMPT

  greedy decoding on the CPU; tokens are printed as they are produced (--json: one JSON object at the end)`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      "max-new-tokens": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return console.log(USAGE);
  if (!values.model) {
    throw new InputError("Cannot generate as '--model' must name a model folder: it is missing");
  }
  if (positionals.length !== 1) {
    throw new InputError(
      `Cannot generate as exactly one PROMPT must be given: current count is ${positionals.length}`,
    );
  }
  const max = Number(values["max-new-tokens"] ?? 32);
  if (!Number.isInteger(max) || max < 1 || max > 4096) {
    throw new InputError(
      `Cannot generate as '--max-new-tokens' must be an integer from 1 to 4096: current value is '${
        values["max-new-tokens"]
      }'`,
    );
  }
  const prompt = positionals[0];
  const folder = await openModelFolder(values.model);
  try {
    const family = lmFamilyFrom(folder.config, `model '${values.model}'`);
    const tokenizer = await loadTokenizer(values.model);
    const runner = await createLmCpuRunner(folder, family, tokenizer);
    try {
      const encoder = new TextEncoder();
      const tokens: number[] = [];
      let text = "";
      // One greedy step per call on the prompt plus the text so far, so each token reaches the terminal as soon
      // as it exists. The text is re-tokenized each step: where BPE would segment the joined text differently
      // from the generated tokens the continuation can differ from a one-call greedy run (the test pins the
      // tiny model's case); the runner has no per-token callback yet.
      for (let i = 0; i < max; i++) {
        const [step] = await runner.generate([prompt + text], { maxNewTokens: 1, stopAtEos: true });
        if (step.tokens.length === 0) break;
        tokens.push(step.tokens[0]);
        const decoded = tokenizer.decode(tokens);
        const piece = decoded.slice(text.length);
        text = decoded;
        if (!values.json) await Deno.stdout.write(encoder.encode(piece));
      }
      if (values.json) console.log(JSON.stringify({ prompt, text, tokens }));
      else console.log();
    } finally {
      runner.dispose();
    }
  } finally {
    await folder.close();
  }
}
