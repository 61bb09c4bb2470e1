/**
 * What a model folder is, as the service records it when a model becomes ready: the folder opened as a worker
 * opens it (config, tokenizer, tensors and shapes of a supported architecture), its sha256, default layers and
 * whether the LM engine can run its forward pass. The API's finalize and the worker's Hub import both call it;
 * a folder no worker could use is an `InputError` whose message names the problem, with the folder's path
 * replaced by `label` (a tenant never sees server paths).
 */
import { defaultLayers } from "../contracts/edit_params.ts";
import type { ModelSummary } from "../contracts/models.ts";
import { InputError } from "../errors.ts";
import { openModelFolder } from "./folder.ts";
import { lmFamilyFrom } from "./lm_family.ts";
import { loadTokenizer } from "./tokenizer.ts";

export async function summarizeModelFolder(
  dir: string,
  label: string,
  /** the files' hashes taken while they streamed in (a single weight file needs no second pass) */
  stored: { name: string; sha256: string }[] | null,
): Promise<ModelSummary> {
  try {
    const folder = await openModelFolder(dir);
    try {
      await loadTokenizer(dir);
      const single = folder.weightFiles.length === 1
        ? stored?.find((f) => f.name === folder.weightFiles[0])
        : undefined;
      return {
        family: folder.architecture.family,
        num_layers: folder.numLayers,
        hidden_size: folder.hiddenSize,
        orientation: folder.architecture.orientation,
        weight_files: folder.weightFiles,
        tensors: folder.tensorNames().length,
        // One weight file: the hash taken while it streamed in is the folder's hash; shards need one pass.
        sha256: single?.sha256 ?? await folder.sha256(),
        default_layers: defaultLayers(folder.numLayers),
        forward: forwardSupport(folder.config, label),
      };
    } finally {
      await folder.close();
    }
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new InputError(error.message.replaceAll(dir, label));
  }
}

/**
 * Whether the LM engine can run this config (shared/model/lm_family.ts). A config it cannot run (MoE, another
 * rope_scaling type, OPT post-LN, …) still finalizes: an edit from precomputed embeddings needs no forward pass.
 * Edits from pairs and checks are refused at submit with this reason (api/routes/common.ts `refuseWithoutForward`).
 */
function forwardSupport(config: Record<string, unknown>, label: string): ModelSummary["forward"] {
  try {
    lmFamilyFrom(config, label);
    return { supported: true };
  } catch (error) {
    if (error instanceof InputError) return { supported: false, reason: error.message };
    throw error;
  }
}
