/**
 * The model card (`README.md`) of an edited model: what was done, to which base, with which data and
 * parameters, per-layer figures, and how to undo it.
 */
import type { EditReport } from "./report.ts";

export function modelCard(report: EditReport, target: string): string {
  const p = report.params;
  const rows = report.layers.map((l) => {
    const tokens = l.directions.map((d) =>
      d.positive.slice(0, 5).map((t) => JSON.stringify(t.token)).join(" ")
    )
      .join(" / ");
    return `| ${l.layer} | ${l.singularValues.map((s) => s.toPrecision(4)).join(", ")} | ${
      l.explainedVariance.map((v) => (100 * v).toFixed(1) + "%").join(", ")
    } | ${l.iterations}${l.converged ? "" : " (not converged)"} | ${tokens.replaceAll("|", "\\|")} |`;
  });
  return `---
tags:
- profs
- model-editing
- detoxification
---

# ProFS-edited ${report.model.family} model

This model is a copy of a base model whose MLP output weights were edited with **ProFS** (Projection Filter
for Subspaces; Uppaal et al., ICLR 2025, arXiv 2405.13967): for each edited block l, a rank-${p.rank} "toxic"
subspace V_l was estimated from the difference between embeddings of preferred and rejected texts, and removed
from the output space of \`${target}\` (W ← W − (W V) Vᵀ, or V (Vᵀ W) for row-major layouts). No training took
place; every other tensor is byte-identical to the base model.

| | |
|---|---|
| Base model sha256 | \`${report.model.sha256}\` |
| Edited model sha256 | \`${report.editedModelSha256}\` |
| Edited blocks | ${p.layers.from}:${p.layers.to} (of ${report.model.numLayers}) |
| Rank per block | ${p.rank} |
| Centering | ${p.centering ? "on" : "off"} |
| Pairs used | ${report.source.pairsUsed} of ${report.source.pairsAvailable} (seed ${p.seed}) from ${report.source.kind} |
| Max tokens per text | ${p.maxTokens ?? "not recorded"} |
| Backend | ${report.backend} |
| Created | ${report.createdAt} |

## Per block

| Block | Singular values | Explained variance | Iterations | Top tokens of each removed direction |
|---|---|---|---|---|
${rows.join("\n")}

## Undo or reproduce

\`patch.safetensors\` holds each block's basis and the removed part. With profs:

    deno task profs apply-patch --model EDITED_DIR --patch patch.safetensors --out BASE_DIR --revert
    deno task profs apply-patch --model BASE_DIR --patch patch.safetensors --out EDITED_DIR

\`report.json\` has the full figures.
`;
}
