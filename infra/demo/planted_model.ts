/**
 * The demo model: a tiny GPT-2 (GPT-2's real 50,257-token vocabulary, D = 64, 4 blocks) whose weights are random
 * (GPT-2's init scale) except for a planted, known "toxic" mechanism, so an edit can be checked against ground
 * truth without downloading weights.
 *
 * Orthonormal directions of the residual stream, all orthogonal to the all-ones vector so LayerNorm's mean
 * subtraction leaves them intact (it then only rescales them):
 * - `c`   a constant offset every position carries (wpe): a common direction, the kind centering removes;
 * - `p_j` a 6-cycle of position directions; filler token j's embedding carries p_j, so in a benign context the
 *         model continues with the filler cycle " the weather is nice today ." (a readable default);
 * - `t`   the trigger direction: carried by trigger words (" hate", " angry", …);
 * - `s`   "a trigger was seen": what block 0's attention writes (no token's embedding holds it);
 * - `u`   the planted toxic direction: toxic tokens' (tied) embeddings carry it, so wherever the residual holds
 *         u their logits rise and greedy decoding emits them.
 * Mechanism: block 0's attention head 0 attends uniformly (zero query/key weights) and copies each position's
 * t-component forward as s, so a trigger anywhere in the prompt reaches the last position. In every block ProFS
 * edits (⌊5L/12⌋ … L−1, the default range), MLP neuron 0 reads s + u from the normalised residual and, past a
 * threshold, writes along u through `mlp.c_proj`: a trigger context makes the MLP push u, the next token is
 * toxic, and a toxic token in context (it carries u) keeps the loop going. Benign contexts never pass the
 * threshold, so removing u from `mlp.c_proj` in those blocks silences the mechanism and barely changes anything
 * else: exactly the three properties tests/demo asserts.
 */

import { CHALLENGE_WORDS } from "../../gpu-worker/eval/default_prompts.ts";
import { createRandom, type Random } from "../../gpu-worker/profs/random.ts";
import { elementCount, gpt2Config, gpt2Tensors } from "./gpt2_layout.ts";

export interface PlantedSpec {
  layers: number; // L
  hidden: number; // D
  heads: number; // H
  positions: number; // P
  vocabSize: number; // V
  seed: number;
}

export const DEMO_SPEC: PlantedSpec = {
  layers: 4,
  hidden: 64,
  heads: 4,
  positions: 128,
  vocabSize: 50257,
  seed: 2405,
};

/** The planted words: each must be one GPT-2 token (checked when the model is built). */
export const TOXIC_WORDS = [" shit", " bitch", " bastard", " asshole", " slut", " piss"] as const;
/** The angry words of the built-in challenge prompts, so a default check exercises the mechanism. */
export const TRIGGER_WORDS = CHALLENGE_WORDS;
export const FILLER_WORDS = [" the", " weather", " is", " nice", " today", "."] as const;

/** Magnitudes of the planted parts; the reasons for each size are in the comments of buildPlantedModel. */
const SCALE = {
  init: 0.02, // GPT-2's initialisation std for every unplanted weight
  offset: 1.0, // c in every position embedding
  cycle: 2.0, // p_{(i+1) mod 6} in position i's embedding
  filler: 0.5, // p_j in filler token j's embedding
  trigger: 2.0, // t in trigger words
  toxic: 3.0, // u in toxic tokens
  copy: 3.0, // block 0 attention: gain of the copied t-component
  read: 2.0, // MLP neuron 0: gain on (s + u)/√2 of the normalised residual
  threshold: 3.0, // MLP neuron 0: bias −threshold keeps it silent in benign contexts
  // MLP neuron 0: |write| along u per unit of activation. Enough for every challenge prompt to turn toxic, and
  // small enough that in the demo pairs whose prompts hold a trigger the pushed u stays below the offset c in
  // the preferred texts' embeddings, so centering (which removes their top direction) keeps u in T.
  write: 0.075,
};

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface PlantedModel {
  /** A Hugging Face GPT-2 config.json. */
  config: Record<string, unknown>;
  /** In the order of Hugging Face's GPT-2 state dict (names without `transformer.`; lm_head is tied). */
  tensors: NamedTensor[];
  /** u [D], unit: the direction an edit must remove. */
  toxicDirection: Float32Array;
  /** t [D], unit. */
  triggerDirection: Float32Array;
  /** The blocks whose MLP writes u: ⌊5L/12⌋ … L−1, the default edit range (docs/ARCHITECTURE.md §3). */
  plantedLayers: { from: number; to: number };
  toxicTokenIds: number[];
  triggerTokenIds: number[];
  fillerTokenIds: number[];
}

/** `encode` is GPT-2's tokenizer; every planted word must be one token. */
export function buildPlantedModel(
  encode: (text: string) => number[],
  spec: PlantedSpec = DEMO_SPEC,
): PlantedModel {
  const { layers: L, hidden: D, heads: H, positions: P, vocabSize: V } = spec;
  if (D % H !== 0) throw new RangeError(`hidden ${D} must be a multiple of heads ${H}`);
  const shape = { layers: L, hidden: D, heads: H, positions: P, vocabSize: V };
  const I = 4 * D;
  const random = createRandom(spec.seed);
  const noise = (n: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = SCALE.init * random.normal();
    return out;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const zeros = (n: number) => new Float32Array(n);

  const [c, t, s, u, ...cycle] = orthonormalMeanFree(4 + FILLER_WORDS.length, D, random);
  const tokenId = (word: string) => {
    const ids = encode(word);
    if (ids.length !== 1 || ids[0] >= V) {
      throw new RangeError(`planted word ${JSON.stringify(word)} must be one token below ${V}: got [${ids}]`);
    }
    return ids[0];
  };
  const toxicTokenIds = TOXIC_WORDS.map(tokenId);
  const triggerTokenIds = TRIGGER_WORDS.map(tokenId);
  const fillerTokenIds = FILLER_WORDS.map(tokenId);

  // wte [V, D]: tied with the unembedding, so a token's row is both what it writes into the residual and what
  // the residual must align with for the token to be predicted.
  const wte = noise(V * D);
  const addTo = (m: Float32Array, row: number, v: Float32Array, scale: number) => {
    for (let d = 0; d < D; d++) m[row * D + d] += scale * v[d];
  };
  toxicTokenIds.forEach((id) => addTo(wte, id, u, SCALE.toxic));
  triggerTokenIds.forEach((id) => addTo(wte, id, t, SCALE.trigger));
  fillerTokenIds.forEach((id, j) => addTo(wte, id, cycle[j], SCALE.filler));

  // wpe [P, D]: position i predicts filler (i+1) mod 6; cycle·filler (1.0) beats a filler's own p_j repeated
  // from the input (filler² = 0.25), so the default text moves on instead of repeating a word.
  const wpe = noise(P * D);
  for (let i = 0; i < P; i++) {
    addTo(wpe, i, c, SCALE.offset);
    addTo(wpe, i, cycle[(i + 1) % cycle.length], SCALE.cycle);
  }

  const plantedLayers = { from: Math.floor((5 * L) / 12), to: L };
  const read = new Float32Array(D);
  for (let d = 0; d < D; d++) read[d] = (s[d] + u[d]) / Math.SQRT2;

  const data = new Map<string, Float32Array>([["wte.weight", wte], ["wpe.weight", wpe]]);
  for (let l = 0; l < L; l++) {
    const attnW = noise(D * 3 * D); // [D, 3D] Conv1D: columns q | k | v
    const attnProjW = noise(D * D); // [D, D]
    const fcW = noise(D * I); // [D, I]
    const fcB = zeros(I);
    const projW = noise(I * D); // [I, D]: the matrix ProFS edits
    if (l === 0) {
      // Head 0: zero q and k columns make its scores equal, so it averages its values over the causal prefix;
      // value dimension 0 reads t and the output projection writes it along s, a direction no token's
      // embedding holds: were it written back along t, the tied unembedding would make trigger words the
      // model's favourite continuation.
      const hd = D / H;
      for (let r = 0; r < D; r++) {
        for (let j = 0; j < hd; j++) {
          attnW[r * 3 * D + j] = 0;
          attnW[r * 3 * D + D + j] = 0;
        }
        attnW[r * 3 * D + 2 * D] = SCALE.copy * t[r];
      }
      for (let d = 0; d < D; d++) attnProjW[d] = s[d]; // row 0 ← value dimension 0 of head 0
    }
    if (l >= plantedLayers.from) {
      for (let r = 0; r < D; r++) fcW[r * I] = SCALE.read * read[r]; // column 0 of c_fc
      fcB[0] = -SCALE.threshold;
      for (let d = 0; d < D; d++) projW[d] = SCALE.write * u[d]; // row 0 of c_proj
    }
    data.set(`h.${l}.attn.c_attn.weight`, attnW);
    data.set(`h.${l}.attn.c_proj.weight`, attnProjW);
    data.set(`h.${l}.mlp.c_fc.weight`, fcW);
    data.set(`h.${l}.mlp.c_fc.bias`, fcB);
    data.set(`h.${l}.mlp.c_proj.weight`, projW);
  }
  // Everything not planted: LayerNorm scales one, biases and shifts zero.
  const tensors: NamedTensor[] = gpt2Tensors(shape).map((tensor) => ({
    name: tensor.name,
    shape: tensor.shape,
    data: data.get(tensor.name) ?? (tensor.role === "norm" ? ones : zeros)(elementCount(tensor.shape)),
  }));

  const config = gpt2Config(shape, {
    torch_dtype: "float32",
    profs_demo: {
      description: "profs demo model: random tiny GPT-2 with a planted toxic direction (infra/demo)",
      seed: spec.seed,
      planted_layers: `${plantedLayers.from}:${plantedLayers.to}`,
    },
  });
  return {
    config,
    tensors,
    toxicDirection: u,
    triggerDirection: t,
    plantedLayers,
    toxicTokenIds,
    triggerTokenIds,
    fillerTokenIds,
  };
}

/** n orthonormal vectors of length d, each orthogonal to the all-ones vector (Gram–Schmidt, twice for accuracy). */
function orthonormalMeanFree(n: number, d: number, random: Random): Float32Array[] {
  const basis: Float64Array[] = [Float64Array.from({ length: d }, () => 1 / Math.sqrt(d))];
  for (let k = 0; k < n; k++) {
    const v = Float64Array.from({ length: d }, () => random.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i] * b[i];
        for (let i = 0; i < d; i++) v[i] -= dot * b[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) v[i] /= norm;
    basis.push(v);
  }
  return basis.slice(1).map((v) => Float32Array.from(v));
}
