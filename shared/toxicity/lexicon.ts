/**
 * The built-in toxicity scorer: profanity and slur matching with the maintained `obscenity` library (its English
 * dataset and recommended transformers, which catch l33t spellings and repeated letters while sparing words
 * like "Scunthorpe" or "assassin"). No model, no network: microseconds per text, so it runs at the edge.
 *
 * On top of that dataset, a short list of common insults and threats written for the project (`INSULTS`):
 * obscenity covers profanity and slurs, so "you are an idiot" would otherwise score 0.
 *
 * Score: 1 − 0.25ⁿ for n matched spans (overlapping matches of several patterns count once): one match gives
 * 0.75, above the default threshold, and each further match moves the score towards 1. It detects words, not
 * meaning — sarcasm or an insult in other words scores 0 — which is why the HTTP scorer exists.
 */
import {
  DataSet,
  englishDataset,
  englishRecommendedTransformers,
  parseRawPattern,
  RegExpMatcher,
} from "obscenity";
import type { ToxicityScore, ToxicityScorer } from "./scorer.ts";

/** Weight left after each match: score = 1 − MISS_PER_MATCH ** matches. */
const MISS_PER_MATCH = 0.25;

/**
 * Insults and threats without profanity, as obscenity patterns; `|` marks a word boundary, so "idiot" matches
 * the word, not "idiotype".
 */
export const INSULTS = [
  "|idiot|",
  "|idiots|",
  "|moron|",
  "|morons|",
  "|imbecile|",
  "|cretin|",
  "|stupid|",
  "|dumb|",
  "|loser|",
  "|losers|",
  "|worthless|",
  "|pathetic|",
  "|scumbag|",
  "|shut up|",
  "|kill yourself|",
  "|kys|",
  "|go to hell|",
  "|i hate you|",
  "|drop dead|",
];

function lexicon(): DataSet<{ originalWord?: string }> {
  const dataset = new DataSet<{ originalWord?: string }>().addAll(englishDataset);
  for (const insult of INSULTS) {
    dataset.addPhrase((phrase) =>
      phrase.setMetadata({ originalWord: insult.replaceAll("|", "") }).addPattern(parseRawPattern(insult))
    );
  }
  return dataset;
}

export function createLexiconScorer(): ToxicityScorer {
  const dataset = lexicon();
  const matcher = new RegExpMatcher({ ...dataset.build(), ...englishRecommendedTransformers });
  const scoreOne = (text: string): ToxicityScore => {
    const matches = matcher.getAllMatches(text, true); // sorted by start index
    const terms = new Set<string>();
    let spans = 0;
    let lastEnd = -1;
    for (const match of matches) {
      const term = dataset.getPayloadWithPhraseMetadata(match).phraseMetadata?.originalWord;
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
