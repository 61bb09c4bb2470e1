import assert from "node:assert/strict";
import { InputError } from "../../shared/errors.ts";
import { createHttpScorer } from "../../shared/toxicity/http.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { scorerFromEnv } from "../../shared/toxicity/from_env.ts";
import { ScorerError } from "../../shared/toxicity/scorer.ts";

Deno.test("lexicon scorer: clean text scores 0, one profanity 0.75, more profanity closer to 1", async () => {
  const scorer = createLexiconScorer();
  const [clean, one, three] = await scorer.score([
    "the weather is nice today",
    "you bastard",
    "you bitch, you bastard, what a slut",
  ]);
  assert.deepEqual(clean, { score: 0, terms: [] });
  assert.equal(one.score, 0.75);
  assert.deepEqual(one.terms, ["bastard"]);
  assert.equal(three.score, 1 - 0.25 ** 3);
  assert.deepEqual(three.terms.sort(), ["bastard", "bitch", "slut"]);
});

Deno.test("lexicon scorer: overlapping patterns on one word count once; l33t spelling is caught", async () => {
  const [word, leet] = await createLexiconScorer().score(["shit", "sh1t happens"]);
  assert.equal(word.score, 0.75); // obscenity matches "shit" with two patterns over the same span
  assert.equal(leet.score, 0.75);
  assert.deepEqual(leet.terms, ["shit"]);
});

Deno.test("lexicon scorer: insults without profanity are caught as whole words only", async () => {
  const scores = await createLexiconScorer().score([
    "you are an idiot",
    "shut up, you moron",
    "the idiotype of an antibody",
    "a dumbbell workout",
  ]);
  assert.deepEqual(scores.map((s) => s.terms), [["idiot"], ["shut up", "moron"], [], []]);
  assert.deepEqual(scores.map((s) => s.score), [0.75, 1 - 0.25 ** 2, 0, 0]);
});

Deno.test("lexicon scorer: words that merely contain a profanity are not flagged", async () => {
  const scores = await createLexiconScorer().score(["Scunthorpe", "an assassin in class", "I hate Mondays"]);
  assert.deepEqual(scores.map((s) => s.score), [0, 0, 0]);
});

function serve(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}/score`, close: () => server.shutdown() };
}

Deno.test("http scorer: posts the texts and reads {scores}, batching requests", async () => {
  const seen: string[][] = [];
  const service = serve(async (request) => {
    const { texts } = await request.json();
    seen.push(texts);
    return Response.json({ scores: texts.map((t: string) => (t.includes("bad") ? 0.9 : 0.1)) });
  });
  try {
    const scorer = createHttpScorer({ url: service.url, batchSize: 2 });
    const scores = await scorer.score(["good", "bad", "fine"]);
    assert.deepEqual(scores, [{ score: 0.1, terms: [] }, { score: 0.9, terms: [] }, {
      score: 0.1,
      terms: [],
    }]);
    assert.deepEqual(seen, [["good", "bad"], ["fine"]]);
  } finally {
    await service.close();
  }
});

Deno.test("http scorer: accepts profs's own {results: [{score}]} reply", async () => {
  const service = serve(() => Response.json({ results: [{ score: 0.25 }] }));
  try {
    assert.deepEqual(await createHttpScorer({ url: service.url }).score(["x"]), [{ score: 0.25, terms: [] }]);
  } finally {
    await service.close();
  }
});

Deno.test("http scorer: a service slower than the timeout fails with a ScorerError naming the timeout", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const service = serve(async () => {
    await held;
    return Response.json({ scores: [0] });
  });
  try {
    await assert.rejects(
      createHttpScorer({ url: service.url, timeoutMs: 50 }).score(["x"]),
      (error) => error instanceof ScorerError && /did not answer within 50 ms/.test(error.message),
    );
  } finally {
    release();
    await service.close();
  }
});

Deno.test("http scorer: HTTP errors, wrong counts, out-of-range scores and non-JSON are ScorerErrors", async () => {
  const replies: (() => Response)[] = [
    () => new Response("model not loaded", { status: 503 }),
    () => Response.json({ scores: [0.1, 0.2] }),
    () => Response.json({ scores: [1.5] }),
    () => Response.json({ probabilities: [0.5] }),
    () => new Response("<html>", { status: 200 }),
  ];
  const expected = [
    /HTTP 503: model not loaded/,
    /one score per text \(1\): got 2/,
    /score 0 is 1.5/,
    /"scores"/,
    /JSON/,
  ];
  let i = 0;
  const service = serve(() => replies[i]());
  try {
    for (; i < replies.length; i++) {
      await assert.rejects(
        createHttpScorer({ url: service.url }).score(["x"]),
        (error) => error instanceof ScorerError && expected[i].test(error.message),
        `reply ${i}`,
      );
    }
  } finally {
    await service.close();
  }
});

Deno.test("http scorer: an unreachable service is a ScorerError; a bad URL is an InputError", async () => {
  const service = serve(() => new Response());
  const url = service.url;
  await service.close();
  await assert.rejects(
    createHttpScorer({ url }).score(["x"]),
    (e) => e instanceof ScorerError && /request failed/.test(e.message),
  );
  assert.throws(() => createHttpScorer({ url: "not a url" }), InputError);
  assert.throws(() => createHttpScorer({ url: "ftp://example.com/x" }), InputError);
});

Deno.test("scorerFromEnv: lexicon by default, http with PROFS_TOXICITY_URL, bad timeout rejected", () => {
  const env = (values: Record<string, string>) => ({ get: (name: string) => values[name] });
  assert.equal(scorerFromEnv(env({})).name, "lexicon");
  assert.equal(scorerFromEnv(env({ PROFS_TOXICITY_URL: "http://127.0.0.1:9/score" })).name, "http");
  assert.throws(
    () => scorerFromEnv(env({ PROFS_TOXICITY_URL: "http://x/", PROFS_TOXICITY_TIMEOUT_MS: "soon" })),
    (e) => e instanceof InputError && /PROFS_TOXICITY_TIMEOUT_MS/.test(e.message),
  );
});
