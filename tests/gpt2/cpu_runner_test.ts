import { createGpt2Runner } from "../../gpu-worker/gpt2/runner.ts";
import { gpt2Tokenizer, referenceModel } from "./reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./runner_checks.ts";

const runner = await createGpt2Runner(referenceModel, { backend: "cpu", tokenizer: gpt2Tokenizer });

Deno.test("cpu GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference", () =>
  checkAgainstReference(runner, "cpu"));

Deno.test("cpu GPT-2: batch composition and padding never change a text's embedding", () =>
  checkBatchInvariance(runner, "cpu"));
