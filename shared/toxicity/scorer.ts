/**
 * Toxicity scoring behind one interface: the built-in lexicon scorer (lexicon.ts, fast enough for the edge and
 * the default) or an HTTP scorer (http.ts) in front of a classifier the user runs, such as Detoxify.
 * A score is in [0, 1]; a text counts as toxic when its score is at least the threshold (0.5 by default, the
 * convention of Perspective-style evaluations, which the ProFS paper follows).
 */

export interface ToxicityScore {
  /** In [0, 1]; higher is more toxic. */
  score: number;
  /** The lexicon terms that matched (canonical spellings, each once); empty for scorers that do not say. */
  terms: string[];
}

export interface ToxicityScorer {
  /** `lexicon` or `http`, reported with every score so results say where they came from. */
  readonly name: string;
  /** One score per text, in order. */
  score(texts: string[], options?: { signal?: AbortSignal }): Promise<ToxicityScore[]>;
}

export const DEFAULT_TOXICITY_THRESHOLD = 0.5;

/** The scorer could not produce scores (unreachable service, timeout, malformed reply): not the caller's input. */
export class ScorerError extends Error {
  override name = "ScorerError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
