/**
 * The built-in toxicity scorer: profanity and slur matching with the maintained `obscenity` library (its English
 * dataset and recommended transformers, which catch l33t spellings and repeated letters while sparing words
 * like "Scunthorpe" or "assassin"). No model, no network: microseconds per text, so it runs at the edge.
 *
 * Score: 1 − 0.25ⁿ for n matched spans (overlapping matches of several patterns count once): one match gives
 * 0.75, above the default threshold, and each further match moves the score towards 1. It detects words, not
 * meaning — insults without profanity score 0 — which is why the HTTP scorer exists.
 */
import { englishDataset, englishRecommendedTransformers, RegExpMatcher } from "obscenity";
import type { ToxicityScore, ToxicityScorer } from "./scorer.ts";

/** Weight left after each match: score = 1 − MISS_PER_MATCH ** matches. */
const MISS_PER_MATCH = 0.25;

export function createLexiconScorer(): ToxicityScorer {
  const matcher = new RegExpMatcher({ ...englishDataset.build(), ...englishRecommendedTransformers });
  const scoreOne = (text: string): ToxicityScore => {
    const matches = matcher.getAllMatches(text, true); // sorted by start index
    const terms = new Set<string>();
    let spans = 0;
    let lastEnd = -1;
    for (const match of matches) {
      const term = englishDataset.getPayloadWithPhraseMetadata(match).phraseMetadata?.originalWord;
      terms.add(term ?? text.slice(match.startIndex, match.endIndex + 1).toLowerCase());
      if (match.startIndex > lastEnd) spans++;
      lastEnd = Math.max(lastEnd, match.endIndex);
    }
    return { score: 1 - MISS_PER_MATCH ** spans, terms: [...terms] };
  };
  return {
    name: "lexicon",
    // deno-lint-ignore require-await
    score: async (texts) => texts.map(scoreOne),
  };
}
