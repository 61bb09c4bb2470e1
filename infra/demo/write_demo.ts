/**
 * Writes the demo's files: the planted model as a Hugging Face folder (config.json, GPT-2's tokenizer.json,
 * model.safetensors in float32) and the preference pairs as JSONL (`{"preferred", "rejected"}` per line).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gpt2TokenizerJson } from "./gpt2_tokenizer_json.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { writeSafetensorsFile } from "../../shared/safetensors/writer.ts";
import { buildDemoPairs, type PreferencePair } from "./data.ts";
import { buildPlantedModel, DEMO_SPEC, type PlantedModel, type PlantedSpec } from "./planted_model.ts";

export const DEMO_MODEL_FILES = ["config.json", "tokenizer.json", "model.safetensors"] as const;

/** `dir` must exist and not hold a model.safetensors yet. */
export async function writeDemoModel(dir: string, spec: PlantedSpec = DEMO_SPEC): Promise<PlantedModel> {
  await writeFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());
  const tokenizer = await loadTokenizer(dir);
  const model = buildPlantedModel(tokenizer.encode, spec);
  await writeFile(join(dir, "config.json"), JSON.stringify(model.config, null, 2) + "\n");
  await writeSafetensorsFile(
    join(dir, "model.safetensors"),
    model.tensors.map((t) => ({
      name: t.name,
      dtype: "F32" as const,
      shape: t.shape,
      data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    })),
    { format: "pt" },
  );
  return model;
}

export function pairsJsonl(pairs: readonly PreferencePair[]): string {
  return pairs.map((p) => JSON.stringify({ preferred: p.preferred, rejected: p.rejected })).join("\n") + "\n";
}

export async function writeDemoPairs(path: string, options: { count?: number; seed?: number } = {}) {
  const pairs = buildDemoPairs(options);
  await writeFile(path, pairsJsonl(pairs));
  return pairs;
}
