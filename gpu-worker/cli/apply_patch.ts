/**
 * `profs apply-patch`: apply a patch.safetensors to its base model, or `--revert` it from the edited model.
 */
import { parseArgs } from "node:util";
import { InputError, Interrupted, withInterrupts } from "../../shared/errors.ts";
import { applyPatch } from "../edit/apply_patch.ts";

export const USAGE = `usage: profs apply-patch --model DIR --patch FILE --out DIR [--revert]

  --model DIR     the base model (or, with --revert, the edited model)
  --patch FILE    patch.safetensors written by 'profs edit'
  --out DIR       output folder (must not exist)
  --revert        remove the edit instead of applying it

An apply reproduces the edited model bit for bit, whichever backend made the edit: the edit writes W − removed·Vᵀ
from the float32 values the patch stores, by the same function. SIGINT/SIGTERM remove the partial output.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      patch: { type: "string" },
      out: { type: "string" },
      revert: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  for (const flag of ["model", "patch", "out"] as const) {
    if (!values[flag]) throw new InputError(`Cannot apply a patch as '--${flag}' is required`);
  }
  const outcome = await withInterrupts((signal) =>
    applyPatch({
      modelDir: values.model!,
      patchFile: values.patch!,
      outDir: values.out!,
      revert: values.revert ?? false,
      signal,
    }).catch((error) => {
      if (error instanceof Interrupted) {
        throw new Interrupted(error.signal, `${error.message}: the partial output was removed`);
      }
      throw error;
    })
  );
  const what = values.revert ? "reverted" : "applied";
  const kind = values.revert ? "base" : "edited";
  const match = outcome.outputSha256 === outcome.expectedSha256
    ? `its weights match the patch's ${kind} model sha256 exactly`
    : `its weights' sha256 ${outcome.outputSha256} differs from the ${kind} model's recorded one ` +
      `(${outcome.expectedSha256}): ${
        values.revert
          ? "a revert restores weights to float32 rounding"
          : "the patch comes from a profs whose edit did not write through the patch's own values (webgpu " +
            "edits before apply-patch and the edit shared one projection); edit again for an exact patch"
      }`;
  console.log(`${what} ${values.patch} → ${outcome.outDir}; ${match}`);
}
