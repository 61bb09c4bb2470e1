/** `profs datasets upload FILE [--name N] [--kind pairs|texts|embeddings] | list | show ID | delete ID`. */
import { basename } from "node:path";
import type { z } from "zod";
import type { DatasetPage as DatasetPageSchema, DatasetView } from "../../shared/contracts/datasets.ts";

type DatasetPage = z.infer<typeof DatasetPageSchema>;
import { DatasetKind } from "../../shared/contracts/datasets.ts";
import { InputError } from "../../shared/errors.ts";
import { action, intFlag, operands, parse, service, str } from "./common.ts";
import { ensureOk, type Http } from "./http.ts";
import { note, printJson, table } from "./output.ts";

export const USAGE = `usage: profs datasets <upload|list|show|delete> [options]

  profs datasets upload FILE [--name NAME] [--kind pairs|texts|embeddings]
        pairs or texts (JSONL) or embeddings (safetensors; the kind is taken from a .safetensors name)
  profs datasets list [--limit N]
  profs datasets show ID
  profs datasets delete ID

every command: --json. Service: PROFS_URL + PROFS_API_KEY, or \`profs login\``;

export async function run(args: string[]): Promise<void> {
  const p = parse(
    args,
    { name: { type: "string" }, kind: { type: "string" }, limit: { type: "string" } },
    USAGE,
  );
  if (!p) return;
  const act = action("datasets", p.positionals, ["upload", "list", "show", "delete"], USAGE);
  const api = await service();
  if (act === "upload") {
    const [file] = operands(p.positionals, ["FILE"], "upload a dataset");
    const dataset = await uploadDataset(api, file, { name: str(p.values.name), kind: str(p.values.kind) });
    if (p.json) printJson(dataset);
    else {
      note(`dataset ${dataset.id}: ${dataset.kind} (${dataset.format}), ${dataset.rows} rows`);
      console.log(dataset.id);
    }
  } else if (act === "list") {
    operands(p.positionals, [], "list datasets");
    const limit = intFlag(p.values.limit, "--limit", 1, 100) ?? 20;
    const page = await api.json<DatasetPage>(`/v1/datasets?limit=${limit}`);
    if (p.json) printJson(page);
    else {
      console.log(table(
        ["ID", "NAME", "KIND", "FORMAT", "ROWS", "CREATED"],
        page.data.map((d) => [d.id, d.name, d.kind, d.format, d.rows, d.created_at]),
      ));
    }
  } else if (act === "show") {
    const [id] = operands(p.positionals, ["ID"], "show a dataset");
    const dataset = await api.json<DatasetView>(`/v1/datasets/${encodeURIComponent(id)}`);
    if (p.json) printJson(dataset);
    else {console.log(
        `${dataset.id}  ${dataset.name}  ${dataset.kind} (${dataset.format}), ${dataset.rows} rows`,
      );}
  } else {
    const [id] = operands(p.positionals, ["ID"], "delete a dataset");
    await api.json(`/v1/datasets/${encodeURIComponent(id)}`, { method: "DELETE" });
    if (p.json) printJson({ id, deleted: true });
    else note(`deleted dataset ${id}`);
  }
}

export async function uploadDataset(
  api: Http,
  file: string,
  o: { name?: string; kind?: string } = {},
): Promise<DatasetView> {
  const kind = o.kind ?? (file.endsWith(".safetensors") ? "embeddings" : undefined);
  if (kind !== undefined && !DatasetKind.safeParse(kind).success) {
    throw new InputError(
      `Cannot upload a dataset as '--kind' must be pairs, texts or embeddings: current value is '${kind}'`,
    );
  }
  let body;
  try {
    body = (await Deno.open(file)).readable;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError(`Cannot upload '${file}' as it must be a file: it does not exist`);
    }
    throw error;
  }
  const query = new URLSearchParams({ name: o.name ?? basename(file) });
  if (kind) query.set("kind", kind);
  const response = await api.fetch(`/v1/datasets?${query}`, {
    method: "POST",
    body,
    headers: { "content-type": kind === "embeddings" ? "application/octet-stream" : "application/x-ndjson" },
  });
  await ensureOk(response, `upload ${file}`);
  return await response.json() as DatasetView;
}
