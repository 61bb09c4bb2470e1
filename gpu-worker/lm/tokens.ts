/**
 * Texts → token ids the way the model's own tokenizer encodes them by default: the folder's tokenizer.json
 * (shared/model/tokenizer.ts, without its post-processor) plus the family's leading special tokens (`<s>` for
 * Llama/Mistral, `</s>` for OPT, none for GPT-2/GPT-J/Qwen). Those tokens are part of the text: they count in the
 * masked mean and in `maxTokens`.
 */
import { InputError } from "../../shared/errors.ts";
import type { Tokenizer } from "../../shared/model/tokenizer.ts";
import type { LmFamily } from "./family.ts";

/** The ids of each text, truncated to `maxTokens` (special tokens included); only a bounded prefix is tokenized. */
export function encodeTexts(
  tokenizer: Pick<Tokenizer, "encode">,
  family: Pick<LmFamily, "prependTokens" | "vocabSize">,
  texts: string[],
  maxTokens: number,
): number[][] {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new InputError(
      `Cannot tokenize texts as 'maxTokens' must be a positive integer: current value is ${maxTokens}`,
    );
  }
  return texts.map((text, i) => {
    const ids = [...family.prependTokens, ...tokenizer.encode(text, maxTokens)].slice(0, maxTokens);
    if (ids.length === 0) throw new InputError(`Cannot tokenize text ${i} as it has no tokens`);
    for (const id of ids) {
      if (id >= family.vocabSize) {
        throw new InputError(
          `Cannot tokenize text ${i} as token ids must be below the model's vocab_size ${family.vocabSize}: it has ${id}`,
        );
      }
    }
    return ids;
  });
}
