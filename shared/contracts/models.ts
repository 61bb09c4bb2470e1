/** Models as the API shows them: an uploaded or registered Hugging Face folder and its validation summary. */
import { z } from "zod";
import { pgText } from "./text.ts";
import { LayerRange } from "./edit_params.ts";
import { pageOf } from "./pagination.ts";

/**
 * `pending`: created, files being uploaded; `POST …/finalize` moves it to `ready`, or to `invalid` with the
 * reasons in `errors` — uploading a fixed file puts it back to `pending` for another finalize. Registered
 * folders are validated at once and start `ready`. Only a `ready` model can be edited.
 */
export const ModelStatus = z.enum(["pending", "ready", "invalid"]).meta({ id: "ModelStatus" });
export type ModelStatus = z.infer<typeof ModelStatus>;

/** A file name inside a model folder: flat, no path separators, no leading dot. */
export const MODEL_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const ModelCreate = z.strictObject({
  name: pgText(z.string().trim().min(1).max(200)),
  path: pgText(z.string().min(1).max(4096)).optional().meta({
    description:
      "register a folder already on the server instead of uploading; it must lie under one of the " +
      "configured roots (PROFS_MODEL_ROOTS)",
  }),
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

export const ModelView = z.object({
  id: z.string(),
  object: z.literal("model"),
  name: z.string(),
  status: ModelStatus,
  source: z.enum(["upload", "folder"]),
  files: z.array(ModelFile),
  summary: ModelSummary.nullable(),
  errors: z.array(z.string()).meta({ description: "why the last finalize failed (status invalid)" }),
  created_at: z.string(),
}).meta({ id: "Model" });
export type ModelView = z.infer<typeof ModelView>;

export const ModelPage = pageOf(ModelView, "ModelPage");
