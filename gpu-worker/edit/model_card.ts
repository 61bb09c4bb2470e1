/**
 * The model cards profs writes: the edited model's `README.md` and the LoRA adapter's. Each opens with Hugging
 * Face's YAML front matter keeping the lineage — `base_model` (+ `base_model_relation`: finetune for the edited
 * weights, adapter for the LoRA folder), the base card's `license`, `library_name`, `pipeline_tag`, `tags` — so a
 * hub shows the base model and licence; the base folder's own card body follows profs' section.
 */
import { join } from "node:path";
import type { Patch } from "../../shared/formats/patch.ts";
import { directionSides, type EditReport } from "./report.ts";

/** What the edited model inherits from its base folder. */
export interface Lineage {
  /** Hub id (or name) of the base model: the base card's `base_model`, else config `_name_or_path`, else given. */
  baseModel: string | null;
  /** The base card's `license` (and `license_name` / `license_link` for `other`). */
  license: { license: string; name?: string; link?: string } | null;
  /** The base card's body (below its front matter), or null without a card. */
  baseCardBody: string | null;
}

/**
 * Reads the base folder's README.md front matter and config: an explicit `given` name wins (the user knows
 * best), then the card's `base_model`, then `_name_or_path` (what `save_pretrained` recorded).
 */
export async function lineageOf(
  dir: string,
  config: Record<string, unknown>,
  given?: string,
): Promise<Lineage> {
  let card: string | null = null;
  try {
    card = await Deno.readTextFile(join(dir, "README.md"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const { fields, body }: { fields: Record<string, string | string[]>; body: string | null } = card === null
    ? { fields: {}, body: null }
    : splitFrontMatter(card);
  const first = (v: string | string[] | undefined) => Array.isArray(v) ? v[0] : v;
  const nameOrPath = typeof config._name_or_path === "string" && config._name_or_path !== ""
    ? config._name_or_path
    : undefined;
  // A local path is no hub id: `_name_or_path` of a folder saved from disk names that disk.
  const fromConfig = nameOrPath && !nameOrPath.startsWith("/") && !nameOrPath.startsWith(".")
    ? nameOrPath
    : undefined;
  const license = first(fields.license);
  return {
    baseModel: given ?? first(fields.base_model) ?? fromConfig ?? null,
    license: license
      ? {
        license,
        ...(first(fields.license_name) ? { name: first(fields.license_name) } : {}),
        ...(first(fields.license_link) ? { link: first(fields.license_link) } : {}),
      }
      : null,
    baseCardBody: body,
  };
}

/**
 * Top-level scalars and lists of a card's YAML front matter (what lineage needs: `base_model`, `license`…), and
 * the body after it. Nested mappings are skipped; quoted scalars are unquoted.
 */
export function splitFrontMatter(card: string): { fields: Record<string, string | string[]>; body: string } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(card);
  if (!match) return { fields: {}, body: card };
  const fields: Record<string, string | string[]> = {};
  let listKey: string | null = null;
  for (const line of match[1].split(/\r?\n/)) {
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item && listKey) {
      (fields[listKey] as string[]).push(unquote(item[1]));
      continue;
    }
    const entry = /^([A-Za-z_][\w-]*):\s*(.*)$/.exec(line);
    if (!entry) {
      if (!/^\s/.test(line)) listKey = null;
      continue;
    }
    const [, key, value] = entry;
    if (value === "") {
      fields[key] = [];
      listKey = key;
    } else if (value.startsWith("[") && value.endsWith("]")) {
      fields[key] = value.slice(1, -1).split(",").map((v) => unquote(v.trim())).filter((v) => v !== "");
      listKey = null;
    } else {
      fields[key] = unquote(value);
      listKey = null;
    }
  }
  return { fields, body: card.slice(match[0].length) };
}

function unquote(value: string): string {
  const v = value.replace(/\s+#.*$/, "").trim();
  if (v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v);
    } catch {
      return v.slice(1, -1);
    }
  }
  if (v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replaceAll("''", "'");
  return v;
}

/** YAML front matter; every string written as a JSON string (a valid YAML double-quoted scalar). */
export function frontMatter(lineage: Lineage, relation: "finetune" | "adapter"): string {
  const s = (v: string) => JSON.stringify(v);
  const lines = ["---"];
  if (lineage.baseModel) {
    lines.push(`base_model: ${s(lineage.baseModel)}`, `base_model_relation: ${relation}`);
  }
  if (lineage.license) {
    lines.push(`license: ${s(lineage.license.license)}`);
    if (lineage.license.name) lines.push(`license_name: ${s(lineage.license.name)}`);
    if (lineage.license.link) lines.push(`license_link: ${s(lineage.license.link)}`);
  }
  lines.push(
    `library_name: ${relation === "adapter" ? "peft" : "transformers"}`,
    "pipeline_tag: text-generation",
    "tags:",
    "- profs",
    "- model-editing",
    "- detoxification",
    ...(relation === "adapter" ? ["- lora"] : []),
    "---",
  );
  return lines.join("\n") + "\n";
}

/** The base card's body under a heading, after profs' own section. */
function baseCardSection(lineage: Lineage): string {
  const body = lineage.baseCardBody?.trim();
  if (!body) return "";
  return `\n## The base model's card\n\nThe base model's own card follows, unchanged.\n\n${body}\n`;
}

/** The LoRA adapter's card: what it is and how to load or merge it. */
export function adapterCard(patch: Patch, lineage: Lineage): string {
  const m = patch.metadata;
  const base = lineage.baseModel ?? "BASE_MODEL";
  return `${frontMatter(lineage, "adapter")}
# ProFS edit as a LoRA adapter (${m.family})

The ProFS edit of ${lineage.baseModel ? `\`${lineage.baseModel}\`` : "its base model"} as a PEFT LoRA adapter:
for each edited block the removed rank-${m.rank} update ΔW = −V (Vᵀ W) is stored exactly as lora_B = −V, lora_A =
Vᵀ W (r = lora_alpha = ${m.rank}, scale 1), so base + adapter is the edited model to float32 rounding.

| | |
|---|---|
| Base model sha256 | \`${m.baseModelSha256}\` |
| Edited model sha256 | \`${m.editedModelSha256}\` |
| Edited tensor | \`${m.target}\` |
| Blocks | ${m.layers.join(", ")} |
| Rank | ${m.rank} |

    from transformers import AutoModelForCausalLM
    from peft import PeftModel
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("${base}"), "ADAPTER_DIR")
    model = model.merge_and_unload()   # or serve base + adapters with a multi-LoRA server
${baseCardSection(lineage)}`;
}

/** The edited model's card: front matter with its lineage, profs' section, then the base card's body. */
export function modelCard(report: EditReport, target: string, lineage: Lineage): string {
  const p = report.params;
  const rows = report.layers.map((l) => {
    // Both sides of each direction, the toxic one (the side the rejected texts point to) first and marked.
    const tokens = l.directions.map((d, j) =>
      `v${j + 1}: ` +
      directionSides(d).map((side) =>
        `${side.toxic ? "**toxic** " : ""}${side.sign} ${
          side.tokens.slice(0, 5).map((t) => JSON.stringify(t.token)).join(" ")
        }`
      ).join("; ")
    ).join("<br>");
    return `| ${l.layer} | ${l.singularValues.map((s) => s.toPrecision(4)).join(", ")} | ${
      l.explainedVariance.map((v) => (100 * v).toFixed(1) + "%").join(", ")
    } | ${l.iterations}${l.converged ? "" : " (not converged)"} | ${tokens.replaceAll("|", "\\|")} |`;
  });
  const src = report.source;
  const from = src.datasetId
    ? `dataset \`${src.datasetId}\` (${src.kind})`
    : src.file
    ? `\`${src.file}\` (${src.kind})`
    : src.kind;
  const cache = src.embeddingsCache === "hit" ? "; embeddings from the cache" : "";
  const warnings = report.warnings?.length
    ? `\n## Warnings\n\n${report.warnings.map((w) => `- ${w}`).join("\n")}\n`
    : "";
  return `${frontMatter(lineage, "finetune")}
# ProFS-edited ${report.model.family} model

This model is a copy of ${
    lineage.baseModel ? `\`${lineage.baseModel}\`` : "a base model"
  } whose MLP output weights were edited with **ProFS** (Projection Filter
for Subspaces; Uppaal et al., ICLR 2025, arXiv 2405.13967): for each edited block l, a rank-${p.rank} "toxic"
subspace V_l was estimated from the difference between embeddings of preferred and rejected texts, and removed
from the output space of \`${target}\` (W ← W − (W V) Vᵀ, or V (Vᵀ W) for row-major layouts). No training took
place; every other tensor is byte-identical to the base model.

| | |
|---|---|
| Base model | ${lineage.baseModel ? `\`${lineage.baseModel}\`` : "not named"} |
| Base model sha256 | \`${report.model.sha256}\` |
| Edited model sha256 | \`${report.editedModelSha256}\` |
| Edited blocks | ${p.layers.from}:${p.layers.to} (of ${report.model.numLayers}) |
| Rank per block | ${p.rank} |
| Centering | ${p.centering ? "on" : "off"} |
| Pairs used | ${report.source.pairsUsed} of ${report.source.pairsAvailable} (seed ${p.seed}) from ${from}${cache} |
| Data sha256 | \`${src.sha256}\` |
| Held-out pairs | ${heldOutRow(report)} |
| Max tokens per text | ${p.maxTokens ?? "not recorded"} |
| Backend | ${report.backend} |
| Created | ${report.createdAt} |

${marginSection(report)}## Per block

| Block | Singular values | Explained variance | Iterations | Top tokens of both sides of each removed direction |
|---|---|---|---|---|
${rows.join("\n")}

A singular vector's sign is arbitrary: the side marked **toxic** is the one the rejected texts point to (the sign
of mean(x⁻ − x⁺)·v over the block's pairs), so its tokens are those the removed component raised; "+" and "−"
name the sign of the tokens' unembedding · v.
${warnings}
## Undo or reproduce

\`patch.safetensors\` holds each block's basis and the removed part. With profs:

    deno task profs apply-patch --model EDITED_DIR --patch patch.safetensors --out BASE_DIR --revert
    deno task profs apply-patch --model BASE_DIR --patch patch.safetensors --out EDITED_DIR

\`report.json\` has the full figures. \`profs export-lora --model BASE_DIR --patch patch.safetensors --out DIR\`
writes the same edit as a PEFT LoRA adapter.
${baseCardSection(lineage)}`;
}

/** The hold-out in the card's table: how many pairs, or why none. */
function heldOutRow(report: EditReport): string {
  const h = report.heldOut;
  if (!h) return "not recorded";
  if (h.pairs === 0) return h.skipped ? "none (see the preference margin)" : "none (`holdout` 0)";
  return `${h.pairs} (share ${h.share}, seed ${report.params.seed}), never used to find the subspace`;
}

/** Base vs edited preference margin on the held-out pairs, or why it was not measured. */
function marginSection(report: EditReport): string {
  const h = report.heldOut;
  if (!h || (h.pairs === 0 && !h.skipped)) return "";
  if (!h.base || !h.edited) return `## Preference margin\n\nNot measured. ${h.skipped}.\n\n`;
  const f = (x: number) => x.toFixed(4);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return `## Preference margin on ${h.edited.pairs} held-out pairs

Per pair, the mean per-token log-likelihood of the preferred text minus that of the rejected text (nats per
token), on pairs the subspace was not estimated from; accuracy is the share of pairs with a margin above 0.

| | Base | Edited |
|---|---|---|
| Mean margin (nats/token) | ${f(h.base.meanMargin)} | ${f(h.edited.meanMargin)} |
| Preference accuracy | ${pct(h.base.accuracy)} | ${pct(h.edited.accuracy)} |

`;
}
