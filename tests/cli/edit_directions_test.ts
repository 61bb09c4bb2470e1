/**
 * Both sides of each removed direction are shown, and the toxic one — the side the rejected texts point to, the
 * sign of mean(x⁻ − x⁺)·v — is marked, in report.json, the CLI summary, the model card and report.html: a
 * singular vector's sign is arbitrary, so its "+" side alone may well be the harmless one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { summary } from "../../gpu-worker/cli/edit.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { renderReportHtml } from "../../gpu-worker/report/html.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { writeEmbeddings } from "../../shared/formats/embeddings.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-directions-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const L = 2, D = 24, N = 20;
const model = (await writeTinyGpt2(join(root, "model"), { layers: L, hidden: D, seed: 5 })).dir;
const folder = await openModelFolder(model);
const wte = await folder.readTensor(folder.unembeddingName()); // [V, D]
await folder.close();
const vocab = wte.length / D;

/** A fixed unit direction u [D] (random, seeded) and the ids of the 10 largest E·(sign·u). */
const random = createRandom(7);
const u = Float64Array.from({ length: D }, () => random.normal());
const norm = Math.hypot(...u);
u.forEach((x, i) => u[i] = x / norm);
function topIds(sign: 1 | -1): number[] {
  const scores = Array.from({ length: vocab }, (_, id) => {
    let s = 0;
    for (let c = 0; c < D; c++) s += wte[id * D + c] * u[c];
    return { id, s: sign * s };
  });
  return scores.sort((a, b) => b.s - a.s || a.id - b.id).slice(0, 10).map((x) => x.id);
}

/** Embeddings whose rejected side is the preferred one shifted by 3·sign·u (plus small noise) at every layer. */
async function shiftedEmbeddings(sign: 1 | -1): Promise<string> {
  const path = join(root, `shift${sign}.safetensors`);
  const rng = createRandom(11);
  const preferred: Float32Array[] = [];
  const rejected: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const p = Float32Array.from({ length: N * D }, () => rng.normal());
    const r = p.map((x, i) => x + 3 * sign * u[i % D] + 0.01 * rng.normal());
    preferred.push(p);
    rejected.push(r);
  }
  await writeEmbeddings(path, { preferred, rejected, numPairs: N, hiddenSize: D }, {});
  return path;
}

for (const sign of [1, -1] as const) {
  Deno.test(`toxic rejected texts along ${sign > 0 ? "+" : "−"}u: the side holding E·u's top tokens is marked toxic everywhere`, async () => {
    const out = join(root, `out${sign}`);
    const { report } = await runEdit({
      modelDir: model,
      outDir: out,
      embeddingsFile: await shiftedEmbeddings(sign),
      backend: "cpu",
      layers: { from: 0, to: L },
      rank: 1,
      centering: false,
    });
    const toxicIds = topIds(sign);
    const otherIds = topIds(sign > 0 ? -1 : 1);
    for (const layer of report.layers) {
      const d = layer.directions[0];
      assert.ok(d.toxicSide === "positive" || d.toxicSide === "negative");
      // v = ±u up to the noise: toxicProjection is signed along v, 3 in size.
      assert.ok(Math.abs(Math.abs(d.toxicProjection!) - 3) < 0.1, `mean(x⁻ − x⁺)·v: ${d.toxicProjection}`);
      assert.equal(d.toxicSide, d.toxicProjection! > 0 ? "positive" : "negative");
      const toxic = d.toxicSide === "positive" ? d.positive : d.negative;
      const other = d.toxicSide === "positive" ? d.negative : d.positive;
      // v differs from u by the noise, which may reorder near-ties: the 5 best of each side are among u's 10.
      const among = (ids: number[], pool: number[]) => ids.every((id) => pool.includes(id));
      assert.ok(among(toxic.slice(0, 5).map((t) => t.id), toxicIds), `layer ${layer.layer}: toxic side`);
      assert.ok(among(other.slice(0, 5).map((t) => t.id), otherIds), `layer ${layer.layer}: other side`);
    }
    const d = report.layers[0].directions[0];
    const toxic = d.toxicSide === "positive" ? d.positive : d.negative;
    const other = d.toxicSide === "positive" ? d.negative : d.positive;
    const toxicSign = d.toxicSide === "positive" ? "+" : "−";
    const otherSign = d.toxicSide === "positive" ? "−" : "+";
    const quoted = (t: { token: string }) => JSON.stringify(t.token);

    const text = summary(report, out);
    const line = text.split("\n").find((l) => l.trim().startsWith("v1:"))!;
    assert.ok(
      line.startsWith(
        `    v1: toxic ${toxicSign} ${toxic.slice(0, 4).map(quoted).join(" ")}  |  ${otherSign} `,
      ),
      line,
    );
    assert.ok(line.includes(other.slice(0, 4).map(quoted).join(" ")), line);

    const card = await Deno.readTextFile(join(out, "README.md"));
    const row = card.split("\n").find((l) => l.startsWith("| 0 |"))!;
    const escaped = (t: { token: string }) => quoted(t).replaceAll("|", "\\|");
    assert.ok(
      row.includes(`v1: **toxic** ${toxicSign} ${toxic.slice(0, 5).map(escaped).join(" ")}; ${otherSign} `),
      row,
    );

    const html = renderReportHtml({ report });
    assert.ok(html.includes(`<strong>toxic</strong> ${toxicSign}: <code>`));
  });
}
