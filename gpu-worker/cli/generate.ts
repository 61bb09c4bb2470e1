/**
 * `profs generate --model DIR "prompt"`: greedy continuation of a prompt with a model folder, offline, printed
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
      const stream = createTextStream(tokenizer);
      const show = (piece: string) => {
        if (piece && !values.json) Deno.stdout.writeSync(encoder.encode(piece));
      };
      const [{ tokens, text }] = await runner.generate([prompt], {
        maxNewTokens: max,
        stopAtEos: true,
        onToken: (_, token) => show(stream.push(token)),
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
