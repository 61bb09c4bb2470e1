/** Models as the API shows them: an uploaded or registered Hugging Face folder and its validation summary. */
import { z } from "zod";
import { pgText } from "./text.ts";
import { LayerRange } from "./edit_params.ts";
import { pageOf } from "./pagination.ts";
import { HUB_REPO, HUB_REVISION } from "../model/hub.ts";

/**
 * `pending`: created, files being uploaded; `POST …/finalize` moves it to `ready`, or to `invalid` with the
 * reasons in `errors` — uploading a fixed file puts it back to `pending` for another finalize. Registered
 * folders are validated at once and start `ready`; a Hub import stays `pending` while a worker fetches it, then
 * becomes `ready` (or `invalid` with the reasons). Only a `ready` model can be edited.
 */
export const ModelStatus = z.enum(["pending", "ready", "invalid"]).meta({ id: "ModelStatus" });
export type ModelStatus = z.infer<typeof ModelStatus>;

/** A file name inside a model folder: flat, no path separators, no leading dot. */
export const MODEL_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A model on the Hugging Face Hub: `org/name` at a branch, tag or commit. */
export const HubSource = z.strictObject({
  hub: pgText(z.string()).pipe(z.string().regex(HUB_REPO, "must be 'org/name'")).meta({
    example: "openai-community/gpt2",
  }),
  revision: pgText(z.string()).pipe(z.string().regex(HUB_REVISION, "must be a branch, tag or commit"))
    .default("main"),
}).meta({ id: "HubSource" });
export type HubSource = z.infer<typeof HubSource>;

export const ModelCreate = z.strictObject({
  name: pgText(z.string().trim().min(1).max(200)).optional().meta({
    description: "required unless `source` is given (then it defaults to the Hub id)",
  }),
  path: pgText(z.string().min(1).max(4096)).optional().meta({
    description:
      "register a folder already on the server instead of uploading; it must lie under one of the " +
      "configured roots (PROFS_MODEL_ROOTS)",
  }),
  source: HubSource.optional().meta({
    description:
      "import from the Hugging Face Hub instead of uploading: a worker fetches config, tokenizer and " +
      "safetensors (shards and index) through the Hub's HTTP API (the server's HF_ENDPOINT and HF_TOKEN), " +
      "validates them like an upload and finalizes the model; `import` on the model shows its progress",
  }),
}).superRefine((body, ctx) => {
  if (body.path !== undefined && body.source !== undefined) {
    ctx.addIssue({ code: "custom", path: ["source"], message: "give either path or source, not both" });
  }
  if (body.name === undefined && body.source === undefined) {
    ctx.addIssue({ code: "custom", path: ["name"], message: "required unless source is given" });
  }
}).meta({ id: "ModelCreate" });
export type ModelCreate = z.infer<typeof ModelCreate>;

export const ModelFile = z.object({
  name: z.string(),
  size: z.int().min(0),
  sha256: z.string(),
}).meta({ id: "ModelFile" });
export type ModelFile = z.infer<typeof ModelFile>;

export const ModelSummary = z.object({
  family: z.string().meta({ example: "gpt2" }),
  num_layers: z.int().min(1),
  hidden_size: z.int().min(1),
  orientation: z.string().meta({ description: "d-cols (GPT-2 c_proj [4D,D]) or d-rows ([D,4D])" }),
  weight_files: z.array(z.string()),
  tensors: z.int().min(0),
  sha256: z.string().meta({ description: "sha256 over the weight file(s), in index order" }),
  default_layers: LayerRange,
  forward: z.object({
    supported: z.boolean(),
    reason: z.string().optional().meta({
      description: "why not: the config field and its value the LM engine cannot run",
      example:
        "Cannot run model 'm' as 'rope_scaling.rope_type' must be default, linear or llama3: current value is yarn",
    }),
  }).optional().meta({
    description: "whether profs can run the model's forward pass (edits from pairs, checks); an edit from " +
      "precomputed embeddings needs none. Absent for models finalized before it was recorded.",
  }),
}).meta({ id: "ModelSummary" });
export type ModelSummary = z.infer<typeof ModelSummary>;

/** The parameters of an `import` job (the API's limits travel with it, so the worker enforces the same). */
export const ImportParams = z.object({
  hub: z.string().regex(HUB_REPO),
  revision: z.string().regex(HUB_REVISION),
  max_file_bytes: z.int().min(1),
  max_header_bytes: z.int().min(1),
});
export type ImportParams = z.infer<typeof ImportParams>;

export const ModelImport = z.object({
  hub: z.string(),
  revision: z.string(),
  job_id: z.string(),
  status: z.enum(["queued", "running", "succeeded", "failed", "canceled"]),
  progress: z.object({ stage: z.string(), done: z.number(), total: z.number() }).nullable().meta({
    description:
      "while running: bytes fetched of the revision's files (stage `downloading`), then `validating`",
  }),
  error: z.string().nullable().meta({
    example:
      "Cannot import 'org/private' as the Hub must answer 200 for /api/models/org/private/revision/main: " +
      "HTTP 401 (a gated or private repo: set HF_TOKEN to a token that may read it)",
  }),
}).meta({ id: "ModelImport" });
export type ModelImport = z.infer<typeof ModelImport>;

export const ModelView = z.object({
  id: z.string(),
  object: z.literal("model"),
  name: z.string(),
  status: ModelStatus,
  source: z.enum(["upload", "folder", "hub"]),
  files: z.array(ModelFile),
  summary: ModelSummary.nullable(),
  errors: z.array(z.string()).meta({ description: "why the last finalize failed (status invalid)" }),
  import: ModelImport.nullable().meta({ description: "the Hub import that fills this model (source hub)" }),
  created_at: z.string(),
}).meta({ id: "Model" });
export type ModelView = z.infer<typeof ModelView>;

export const ModelPage = pageOf(ModelView, "ModelPage");
