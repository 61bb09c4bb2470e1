/** `profs toxicity TEXT... [--threshold X]`: the service's synchronous scores (POST /v1/toxicity). */
import type { ToxicityResponse } from "../../shared/toxicity/contract.ts";
import { InputError } from "../../shared/errors.ts";
import { parse, service, str } from "./common.ts";
import { printJson, table } from "./output.ts";

export const USAGE = `usage: profs toxicity TEXT... [--threshold X] [--json]

  scores each text with the service's scorer (the built-in lexicon, or PROFS_TOXICITY_URL on the server)`;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, { threshold: { type: "string" } }, USAGE);
  if (!p) return;
  if (p.positionals.length === 0) {
    throw new InputError("Cannot score toxicity as at least one TEXT must be given");
  }
  const threshold = str(p.values.threshold) === undefined ? undefined : Number(p.values.threshold);
  if (threshold !== undefined && !(threshold >= 0 && threshold <= 1)) {
    throw new InputError(
      `Cannot score toxicity as '--threshold' must be a number from 0 to 1: current value is '${p.values.threshold}'`,
    );
  }
  const api = await service();
  const answer = await api.json<ToxicityResponse>("/v1/toxicity", {
    method: "POST",
    data: { texts: p.positionals, ...(threshold === undefined ? {} : { threshold }) },
  });
  if (p.json) printJson(answer);
  else {
    console.log(table(
      ["SCORE", "TOXIC", "TEXT"],
      answer.results.map((r, i) => [r.score.toFixed(4), r.toxic ? "yes" : "no", p.positionals[i]]),
    ));
  }
}
