/** `profs checks create (--model ID | --edit ID) [...] [--wait] | list | show ID`. */
import type { z } from "zod";
import type { CheckPage as CheckPageSchema, CheckView } from "../../shared/contracts/check_api.ts";

type CheckPage = z.infer<typeof CheckPageSchema>;
import { InputError } from "../../shared/errors.ts";
import { action, intFlag, operands, parse, service, str } from "./common.ts";
import type { Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";

export const USAGE = `usage: profs checks <create|list|show> [options]

  profs checks create (--model ID | --edit ID) [--max-new-tokens N] [--prompts DATASET_ID]
                      [--heldout DATASET_ID] [--benign DATASET_ID] [--wait]
        start a check (toxicity of greedy continuations, perplexity, KL to the base for an edit);
        --wait polls until it is done and prints the before/after table
  profs checks list [--limit N]
  profs checks show ID [--wait]

every command: --json. Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, {
    model: { type: "string" },
    edit: { type: "string" },
    "max-new-tokens": { type: "string" },
    prompts: { type: "string" },
    heldout: { type: "string" },
    benign: { type: "string" },
    wait: { type: "boolean" },
    limit: { type: "string" },
  }, USAGE);
  if (!p) return;
  const act = action("checks", p.positionals, ["create", "list", "show"], USAGE);
  const api = await service();
  const v = p.values;
  if (act === "create") {
    operands(p.positionals, [], "create a check");
    if ((v.model === undefined) === (v.edit === undefined)) {
      throw new InputError("Cannot create a check as exactly one of '--model' and '--edit' must be given");
    }
    const params: Record<string, unknown> = {};
    const max = intFlag(v["max-new-tokens"], "--max-new-tokens", 1, 256);
    if (max !== undefined) params.max_new_tokens = max;
    if (str(v.prompts)) params.challenge_dataset_id = str(v.prompts);
    if (str(v.heldout)) params.heldout_dataset_id = str(v.heldout);
    if (str(v.benign)) params.benign_dataset_id = str(v.benign);
    let check = await api.json<CheckView>("/v1/checks", {
      method: "POST",
      data: { ...(v.model ? { model_id: str(v.model) } : { edit_id: str(v.edit) }), params },
    });
    if (v.wait) check = await waitCheck(api, check.id, p.json ? () => {} : note);
    if (p.json) printJson(check);
    else if (v.wait) console.log(describeCheck(check));
    else console.log(check.id);
  } else if (act === "list") {
    operands(p.positionals, [], "list checks");
    const page = await api.json<CheckPage>(`/v1/checks?limit=${intFlag(v.limit, "--limit", 1, 100) ?? 20}`);
    if (p.json) printJson(page);
    else {
      console.log(table(
        ["ID", "STATUS", "MODEL", "EDIT", "CREATED"],
        page.data.map((c) => [c.id, c.status, c.model_id, c.edit_id, c.created_at]),
      ));
    }
  } else {
    const [id] = operands(p.positionals, ["ID"], "show a check");
    const check = v.wait
      ? await waitCheck(api, id, p.json ? () => {} : note)
      : await api.json<CheckView>(`/v1/checks/${encodeURIComponent(id)}`);
    if (p.json) printJson(check);
    else console.log(describeCheck(check));
  }
}

/** Polls a check until it is finished (checks have no event stream), saying so once on stderr. */
export async function waitCheck(api: Http, id: string, log: (line: string) => void): Promise<CheckView> {
  log(`waiting for check ${id}`);
  for (let delay = 250;; delay = Math.min(2000, delay * 2)) {
    const check = await api.json<CheckView>(`/v1/checks/${encodeURIComponent(id)}`);
    if (["succeeded", "failed", "canceled"].includes(check.status)) return check;
    await new Promise((r) => setTimeout(r, delay));
  }
}

export function describeCheck(c: CheckView): string {
  const lines = [`${c.id}  ${c.status}  ${c.edit_id ? `edit ${c.edit_id}` : `model ${c.model_id}`}`];
  if (c.error) lines.push(`  error: ${c.error.message}`);
  const result = c.result as Record<string, unknown> | null;
  if (result) {
    const sides = "before" in result
      ? [["before", result.before], ["after", result.after]]
      : [["model", result.check]];
    for (const [label, r] of sides as [string, Record<string, Record<string, number>>][]) {
      lines.push(
        `  ${label.padEnd(6)} toxicity ${r.toxicity?.mean?.toFixed(4)} (share toxic ` +
          `${r.toxicity?.share_toxic?.toFixed(3)})  perplexity ${r.perplexity?.value?.toFixed(2)}` +
          (r.kl ? `  KL ${r.kl.mean?.toFixed(4)}` : ""),
      );
    }
  }
  for (const a of c.artifacts) lines.push(`  artifact ${a.name} (${a.size} bytes)`);
  return lines.join("\n");
}
