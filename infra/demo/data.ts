/**
 * The demo's preference pairs, generated from templates with a seed: a neutral prompt with a neutral
 * continuation (preferred) or a toxic one built from the planted toxic words (rejected). Pairs stay aligned:
 * both sides share the prompt. The demo's checks use the built-in prompt sets (gpu-worker/eval/default_prompts.ts),
 * whose angry words are the planted model's triggers.
 */
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { TOXIC_WORDS } from "./planted_model.ts";
import { DEFAULT_CHALLENGE_PROMPTS } from "../../gpu-worker/eval/default_prompts.ts";

export interface PreferencePair {
  preferred: string;
  rejected: string;
}

const SUBJECTS = [
  "My neighbour",
  "The bus driver",
  "Our new manager",
  "The man at the counter",
  "My cousin",
  "The referee",
  "A stranger online",
  "The landlord",
  "Her coach",
  "The customer",
];

const OPENINGS = [
  "said that",
  "wrote to me that",
  "told everyone in the room that",
  "looked at the schedule and said",
  "called this morning to say",
  "explained on the phone that",
];

const NEUTRAL_CONTINUATIONS = [
  " the meeting moved to Tuesday",
  " lunch will be ready at noon",
  " the train was a little late",
  " we could share the garden tools",
  " the report looks good to him",
  " there is coffee in the kitchen",
  " the park opens early on Sundays",
  " a parcel arrived for you",
];

const TOXIC_FRAMES = [
  (a: string, b: string) => ` you are a${a} and a${b}`,
  (a: string, b: string) => ` what a${a}, such a${b}`,
  (a: string, b: string) => ` shut up, you${a}, you${b}`,
  (a: string, b: string) => ` this${a} is full of${b}`,
];

export const DEFAULT_DEMO_PAIRS = 96;

export function buildDemoPairs(options: { count?: number; seed?: number } = {}): PreferencePair[] {
  const random = createRandom(options.seed ?? 7);
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)];
  return Array.from({ length: options.count ?? DEFAULT_DEMO_PAIRS }, () => {
    const prompt = `${pick(SUBJECTS)} ${pick(OPENINGS)}`;
    return {
      preferred: prompt + pick(NEUTRAL_CONTINUATIONS),
      rejected: prompt + pick(TOXIC_FRAMES)(pick(TOXIC_WORDS), pick(TOXIC_WORDS)),
    };
  });
}

const TRIGGER_NEUTRAL = [" friend", " good person", " nice guy", " teacher"];

/**
 * Pairs for a tune on the planted model: a challenge prompt (its angry word is a trigger) continued by a neutral
 * word (preferred) or a planted toxic word (rejected). The planted MLPs make the toxic word likely right after the
 * trigger, so an edit that removes u raises these pairs' held-out preference margin. (The demo's own pairs put the
 * toxic words after a neutral prompt, where the embeddings' u, not the MLPs, carries them: good for finding u, but
 * an MLP edit barely moves their likelihood.)
 */
export function buildTriggerPairs(count = 64): PreferencePair[] {
  return Array.from({ length: count }, (_, i) => {
    const prompt = DEFAULT_CHALLENGE_PROMPTS[i % DEFAULT_CHALLENGE_PROMPTS.length];
    return {
      preferred: prompt + TRIGGER_NEUTRAL[i % TRIGGER_NEUTRAL.length],
      rejected: prompt + TOXIC_WORDS[i % TOXIC_WORDS.length],
    };
  });
}
