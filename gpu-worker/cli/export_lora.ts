/**
 * `profs export-lora`: a patch.safetensors as a PEFT LoRA adapter of its base model (the edit is rank k per block,
 * so the adapter is exact: base + adapter = the edited model to float32 rounding).
 */
import { parseArgs } from "node:util";
import { InputError } from "../../shared/errors.ts";
import { exportLora } from "../edit/lora.ts";

export const USAGE = `usage: profs export-lora --model BASE_DIR --patch FILE --out DIR [--base-model NAME]

  --model DIR         the base model the patch was made from (checked: family, weights sha256, shapes)
  --patch FILE        patch.safetensors written by 'profs edit'
  --out DIR           adapter folder: adapter_config.json, adapter_model.safetensors, README.md (must not exist)
  --base-model NAME   the base's hub id for adapter_config.json and the card, when neither the base folder's
                      README.md (base_model) nor its config.json (_name_or_path) names it

Load it with PEFT: PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), DIR).`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      patch: { type: "string" },
      out: { type: "string" },
      "base-model": { type: "string" },
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
    if (!values[flag]) throw new InputError(`Cannot export a LoRA adapter as '--${flag}' is required`);
  }
  const outcome = await exportLora({
    modelDir: values.model!,
    patchFile: values.patch!,
    outDir: values.out!,
    baseModel: values["base-model"],
  });
  console.log(`exported ${values.patch} → ${outcome.outDir} (${outcome.files.join(", ")})`);
}
