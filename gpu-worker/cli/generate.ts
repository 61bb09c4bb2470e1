/**
 * `profs generate --model DIR "prompt"`: a greedy or sampled continuation of a prompt with a model folder, offline, printed
 * as the engine produces each token (the runner's `onToken`: one generation with its KV cache, the prompt
 * tokenized once; lm/text_stream.ts emits only complete characters).
 */
import { parseArgs } from "node:util";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { lmFamilyFrom } from "../lm/family.ts";
import { createLmCpuRunner } from "../lm/runner.ts";
import { createTextStream } from "../lm/text_stream.ts";

export const USAGE = `usage: profs generate --model DIR [--max-new-tokens N] [--temperature T [--top-k K]
                      [--top-p P] [--seed S]] [--json] PROMPT

  decoding on the CPU, greedy unless --temperature T > 0 samples (from the K most likely tokens, then the
  smallest set reaching probability P; the same seed gives the same text); the text is printed as it is
  produced (--json: one JSON object at the end)`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      "max-new-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
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
  const number = (flag: string, value: string | undefined, ok: (n: number) => boolean, what: string) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === "" || !ok(n)) {
      throw new InputError(`Cannot generate as '--${flag}' must be ${what}: current value is '${value}'`);
    }
    return n;
  };
  const temperature = number("temperature", values.temperature, (n) => n >= 0 && n <= 100, "from 0 to 100");
  const topK = number("top-k", values["top-k"], (n) => Number.isInteger(n) && n >= 1, "a positive integer");
  const topP = number("top-p", values["top-p"], (n) => n > 0 && n <= 1, "in (0, 1]");
  const seed = number("seed", values.seed, (n) => Number.isInteger(n) && n >= 0, "an integer ≥ 0");
  if (temperature === undefined && (topK ?? topP ?? seed) !== undefined) {
    throw new InputError(
      "Cannot generate as '--top-k', '--top-p' and '--seed' need '--temperature': it is missing",
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
      const stream = createTextStream(tokenizer);
      const show = (piece: string) => {
        if (piece && !values.json) Deno.stdout.writeSync(encoder.encode(piece));
      };
      const [{ tokens, text }] = await runner.generate([prompt], {
        maxNewTokens: max,
        stopAtEos: true,
        onToken: (_, token) => show(stream.push(token)),
        sampling: temperature === undefined ? undefined : { temperature, topK, topP, seed },
      });
      show(stream.end());
      if (values.json) console.log(JSON.stringify({ prompt, text, tokens }));
      else console.log();
    } finally {
      runner.dispose();
    }
  } finally {
    await folder.close();
  }
}
