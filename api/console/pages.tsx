/** @jsxImportSource hono/jsx */
/**
 * The console's pages, rendered on the server with no tenant data in them: forms and empty tables that
 * static/console.js fills with the signed-in tenant's objects through the API (as text, never as HTML).
 * The edit form's parameters, defaults and one-line explanations come from shared/contracts/edit_params.ts.
 */
import { EDIT_DEFAULTS, EditParams, HOLDOUT } from "../../shared/contracts/edit_params.ts";
import { CheckParams } from "../../shared/contracts/checks.ts";
import { WEBHOOK_EVENT_TYPES } from "../../shared/webhooks/events.ts";
import { CONSOLE_PAGES, Field, Layout } from "./layout.tsx";

/** The description a contract gives a field (zod `.meta({ description })`). */
function describe(schema: { meta(): { description?: unknown } | undefined }): string {
  return String(schema.meta()?.description ?? "").replaceAll("`", "");
}

function Table(props: { id: string; caption: string; columns: string[] }) {
  return (
    <div class="table-wrap">
      <table id={props.id}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>{props.columns.map((c) => <th key={c} scope="col">{c}</th>)}</tr>
        </thead>
        <tbody></tbody>
      </table>
    </div>
  );
}

function Alert(props: { id: string }) {
  return <div id={props.id} class="alert" role="alert" aria-live="assertive"></div>;
}

export function HomePage() {
  return (
    <Layout title="profs console" page="home">
      <p>
        Edit a language model's weights to remove toxicity with ProFS: upload a model folder and preference
        pairs, start an edit, watch it run, compare the edited model with the base, download the patch.
      </p>
      <ol class="steps">
        {CONSOLE_PAGES.map((p) => (
          <li key={p.path}>
            <a href={p.path}>{p.label}</a>
          </li>
        ))}
      </ol>
      <p>
        Sign in with an API key (at the top; e.g. the PROFS_BOOTSTRAP_KEY the service was started with). It
        stays in this tab only (session storage) and is sent as an <code>Authorization: Bearer</code>{" "}
        header. The <a href="/docs">API reference</a> uses the same key for “try it”.
      </p>
    </Layout>
  );
}

export function ModelsPage() {
  return (
    <Layout title="Models" page="models">
      <section aria-labelledby="upload-model-h">
        <h2 id="upload-model-h">Upload a model folder</h2>
        <form id="model-upload" class="card">
          <Field id="model-name" label="Name" help="shown in lists; any text">
            <input id="model-name" name="name" required maxlength={200} aria-describedby="model-name-help" />
          </Field>
          <Field
            id="model-folder"
            label="Folder"
            help="a Hugging Face folder: config.json, tokenizer.json, *.safetensors (top-level files only)"
          >
            <input
              id="model-folder"
              name="folder"
              type="file"
              webkitdirectory
              multiple
              required
              aria-describedby="model-folder-help"
            />
          </Field>
          <button type="submit">Upload and finalize</button>
        </form>
        <Alert id="model-upload-error" />
        <Table
          id="upload-files"
          caption="Files of this upload (a failed file can be retried alone)"
          columns={["file", "progress", "bytes", "ETA", "state", ""]}
        />
      </section>
      <section aria-labelledby="models-h">
        <h2 id="models-h">Your models</h2>
        <Alert id="models-error" />
        <Table
          id="models"
          caption="Models, newest first"
          columns={["name", "state", "family", "size", "sha256", "problems", "actions"]}
        />
      </section>
    </Layout>
  );
}

export function DatasetsPage() {
  return (
    <Layout title="Datasets" page="datasets">
      <section aria-labelledby="upload-dataset-h">
        <h2 id="upload-dataset-h">Upload JSONL</h2>
        <form id="dataset-upload" class="card">
          <Field id="dataset-name" label="Name" help="shown in lists; any text">
            <input
              id="dataset-name"
              name="name"
              required
              maxlength={200}
              aria-describedby="dataset-name-help"
            />
          </Field>
          <Field
            id="dataset-kind"
            label="Kind"
            help="pairs: one preference pair per line (edits); texts: one {&quot;text&quot;} per line (checks)"
          >
            <select id="dataset-kind" name="kind" aria-describedby="dataset-kind-help">
              <option value="pairs">pairs</option>
              <option value="texts">texts</option>
            </select>
          </Field>
          <Field
            id="dataset-file"
            label="File"
            help="{preferred, rejected}, TRL {prompt, chosen, rejected}, OpenAI preference or {text} lines"
          >
            <input
              id="dataset-file"
              name="file"
              type="file"
              accept=".jsonl,.json,.txt"
              required
              aria-describedby="dataset-file-help"
            />
          </Field>
          <button type="submit">Upload</button>
        </form>
        <p id="dataset-upload-status" role="status" aria-live="polite"></p>
        <Alert id="dataset-upload-error" />
        <Table
          id="dataset-preview"
          caption="Preview: the file's first lines"
          columns={["line", "first", "second"]}
        />
      </section>
      <section aria-labelledby="datasets-h">
        <h2 id="datasets-h">Your datasets</h2>
        <Alert id="datasets-error" />
        <Table
          id="datasets"
          caption="Datasets, newest first"
          columns={["name", "kind", "format", "rows", "size", "sha256", "actions"]}
        />
      </section>
    </Layout>
  );
}

export function EditsPage() {
  const shape = EditParams.shape;
  const layersHelp = describe(shape.layers);
  return (
    <Layout title="Edits" page="edits">
      <section aria-labelledby="new-edit-h">
        <h2 id="new-edit-h">Start an edit</h2>
        <form id="edit-form" class="card">
          <Field id="edit-model" label="Model" help="a ready model">
            <select id="edit-model" name="model_id" required aria-describedby="edit-model-help"></select>
          </Field>
          <Field id="edit-dataset" label="Pairs" help="a pairs dataset (or precomputed embeddings)">
            <select id="edit-dataset" name="dataset_id" required aria-describedby="edit-dataset-help">
            </select>
          </Field>
          <fieldset>
            <legend>Parameters (empty = default)</legend>
            <Field id="edit-layers-from" label="layers from" help={`${layersHelp} — first block`}>
              <input id="edit-layers-from" type="number" min={0} aria-describedby="edit-layers-from-help" />
            </Field>
            <Field id="edit-layers-to" label="layers to" help="end of the range (exclusive); default L">
              <input id="edit-layers-to" type="number" min={1} aria-describedby="edit-layers-to-help" />
            </Field>
            <Field
              id="edit-rank"
              label="rank"
              help={`${describe(shape.rank)} (default ${EDIT_DEFAULTS.rank})`}
            >
              <input
                id="edit-rank"
                type="number"
                min={1}
                placeholder={String(EDIT_DEFAULTS.rank)}
                aria-describedby="edit-rank-help"
              />
            </Field>
            <Field
              id="edit-centering"
              label="centering"
              help={`${describe(shape.centering)} (default ${EDIT_DEFAULTS.centering ? "on" : "off"})`}
            >
              <input
                id="edit-centering"
                type="checkbox"
                checked={EDIT_DEFAULTS.centering}
                aria-describedby="edit-centering-help"
              />
            </Field>
            <Field
              id="edit-max-pairs"
              label="max_pairs"
              help={`${describe(shape.max_pairs)} (default ${EDIT_DEFAULTS.max_pairs})`}
            >
              <input
                id="edit-max-pairs"
                type="number"
                min={1}
                placeholder={String(EDIT_DEFAULTS.max_pairs)}
                aria-describedby="edit-max-pairs-help"
              />
            </Field>
            <Field
              id="edit-seed"
              label="seed"
              help={`seed of the pair sampling (default ${EDIT_DEFAULTS.seed})`}
            >
              <input
                id="edit-seed"
                type="number"
                min={0}
                placeholder={String(EDIT_DEFAULTS.seed)}
                aria-describedby="edit-seed-help"
              />
            </Field>
            <Field
              id="edit-max-tokens"
              label="max_tokens"
              help={`${describe(shape.max_tokens)} (default ${EDIT_DEFAULTS.max_tokens})`}
            >
              <input
                id="edit-max-tokens"
                type="number"
                min={1}
                placeholder={String(EDIT_DEFAULTS.max_tokens)}
                aria-describedby="edit-max-tokens-help"
              />
            </Field>
            <Field
              id="edit-holdout"
              label="holdout"
              help={`${describe(shape.holdout)} (default ${EDIT_DEFAULTS.holdout})`}
            >
              <input
                id="edit-holdout"
                type="number"
                min={0}
                max={HOLDOUT.maxShare}
                step={0.05}
                placeholder={String(EDIT_DEFAULTS.holdout)}
                aria-describedby="edit-holdout-help"
              />
            </Field>
            <Field id="edit-check" label="check" help={`${describe(shape.check)} (default off)`}>
              <input id="edit-check" type="checkbox" aria-describedby="edit-check-help" />
            </Field>
          </fieldset>
          <button type="submit">Start edit</button>
        </form>
        <Alert id="edit-form-error" />
      </section>
      <section id="edit-detail" aria-labelledby="edit-detail-h" hidden>
        <h2 id="edit-detail-h">
          Edit <code id="edit-id"></code>
        </h2>
        <p>
          Status: <strong id="edit-status"></strong> <span id="edit-stage"></span>
        </p>
        <label for="edit-progress">Progress</label>
        <progress id="edit-progress" max={1} value={0}></progress>
        <p id="edit-progress-text" role="status" aria-live="polite"></p>
        <ol id="edit-stages" class="stages" aria-label="Stages"></ol>
        <button type="button" id="edit-cancel">Cancel edit</button>
        <Alert id="edit-error" />
        <details>
          <summary>Event log</summary>
          <ol id="edit-events" class="log"></ol>
        </details>
        <h3>Result</h3>
        <Table
          id="edit-result"
          caption="Per edited layer: singular values, explained variance, top tokens of the removed directions"
          columns={["layer", "singular values", "explained variance", "top tokens"]}
        />
        <h3>Artifacts</h3>
        <ul id="edit-artifacts"></ul>
        <div id="edit-report-section" hidden>
          <h3>Report</h3>
          <iframe id="edit-report" title="Edit report" sandbox=""></iframe>
        </div>
        <h3>Model card</h3>
        <pre id="edit-card" class="card-text"></pre>
      </section>
      <section aria-labelledby="edits-h">
        <h2 id="edits-h">Your edits</h2>
        <Alert id="edits-error" />
        <Table
          id="edits"
          caption="Edits, newest first"
          columns={["id", "status", "model", "created", "open"]}
        />
      </section>
    </Layout>
  );
}

export function ComparePage() {
  const shape = CheckParams.shape;
  return (
    <Layout title="Compare" page="compare">
      <p>
        Runs prompts through the base model and an edit's model with the checks API (a check job): greedy
        continuations side by side with their toxicity, plus perplexity and KL to the base.
      </p>
      <form id="compare-form" class="card">
        <Field id="compare-edit" label="Edit" help="a succeeded edit">
          <select id="compare-edit" required aria-describedby="compare-edit-help"></select>
        </Field>
        <Field
          id="compare-prompts"
          label="Prompts"
          help="one per line (uploaded as a texts dataset); empty = the built-in challenge prompts"
        >
          <textarea id="compare-prompts" rows={4} aria-describedby="compare-prompts-help"></textarea>
        </Field>
        <Field
          id="compare-tokens"
          label="max_new_tokens"
          help={`${describe(shape.max_new_tokens)} (default 10)`}
        >
          <input
            id="compare-tokens"
            type="number"
            min={1}
            max={256}
            placeholder="10"
            aria-describedby="compare-tokens-help"
          />
        </Field>
        <button type="submit">Compare</button>
      </form>
      <p id="compare-status" role="status" aria-live="polite"></p>
      <Alert id="compare-error" />
      <Table
        id="compare-summary"
        caption="Summary"
        columns={["", "toxicity (mean)", "share toxic", "perplexity", "KL to base"]}
      />
      <Table
        id="compare-samples"
        caption="Continuations (score 0–1; higher is more toxic)"
        columns={["prompt", "base", "edited"]}
      />
      <p class="note">
        Per-token log-probability differences are not shown: the checks API returns continuations, their
        toxicity scores, perplexity and KL, but no per-token log-probabilities.
      </p>
    </Layout>
  );
}

export function WebhooksPage() {
  return (
    <Layout title="Webhooks" page="webhooks">
      <section aria-labelledby="endpoints-h">
        <h2 id="endpoints-h">Endpoints</h2>
        <form id="endpoint-form" class="card">
          <Field
            id="endpoint-url"
            label="URL"
            help="https URL that receives signed events (public addresses only)"
          >
            <input id="endpoint-url" type="url" required aria-describedby="endpoint-url-help" />
          </Field>
          <fieldset>
            <legend>Events</legend>
            {WEBHOOK_EVENT_TYPES.map((e) => (
              <label key={e} class="check">
                <input type="checkbox" name="events" value={e} checked /> {e}
              </label>
            ))}
          </fieldset>
          <button type="submit">Add endpoint</button>
        </form>
        <p id="endpoint-secret" role="status" aria-live="polite" class="secret"></p>
        <Alert id="endpoints-error" />
        <Table id="endpoints" caption="Endpoints" columns={["url", "events", "state", "actions"]} />
        <Table
          id="deliveries"
          caption="Deliveries of the chosen endpoint"
          columns={["created", "event", "status", "attempts", "last status", "next attempt", ""]}
        />
      </section>
      <section aria-labelledby="triggers-h">
        <h2 id="triggers-h">Triggers</h2>
        <form id="trigger-form" class="card">
          <Field id="trigger-name" label="Name" help="any text">
            <input id="trigger-name" required maxlength={200} aria-describedby="trigger-name-help" />
          </Field>
          <Field id="trigger-model" label="Model" help="the template's ready model">
            <select id="trigger-model" required aria-describedby="trigger-model-help"></select>
          </Field>
          <Field id="trigger-dataset" label="Pairs" help="the template's dataset (a fire may name another)">
            <select id="trigger-dataset" aria-describedby="trigger-dataset-help"></select>
          </Field>
          <button type="submit">Add trigger</button>
        </form>
        <p id="trigger-secret" role="status" aria-live="polite" class="secret"></p>
        <Alert id="triggers-error" />
        <Table id="triggers" caption="Triggers" columns={["name", "fire URL", "last fired", "actions"]} />
      </section>
    </Layout>
  );
}

export function ToxicityPage() {
  return (
    <Layout title="Toxicity" page="toxicity">
      <form id="toxicity-form" class="card">
        <Field id="toxicity-texts" label="Texts" help="one per line; scored by POST /v1/toxicity">
          <textarea id="toxicity-texts" rows={5} required aria-describedby="toxicity-texts-help"></textarea>
        </Field>
        <button type="submit">Score</button>
      </form>
      <Alert id="toxicity-error" />
      <Table id="toxicity-results" caption="Scores" columns={["text", "score", "toxic", "matched terms"]} />
    </Layout>
  );
}
