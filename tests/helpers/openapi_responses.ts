/**
 * Checks HTTP exchanges against an OpenAPI 3.1 document the way an outside client relies on it: the operation
 * exists, the status is declared (exactly, as `4XX`, or `default`), every header the server sends beyond the
 * transport's own is declared (and every required one is sent), the content type is one the response declares
 * (no body when it declares none), and a JSON body validates against its schema with a JSON Schema 2020-12
 * validator (ajv, OpenAPI 3.1's dialect). Outbound webhook requests are checked against `webhooks` the same way.
 *
 * `checkResponse` returns the mismatches as sentences (empty: the exchange fits the document).
 */
// deno-lint-ignore-file no-explicit-any
import Ajv2020 from "ajv/dist/2020.js";

type Doc = Record<string, any>;

/**
 * Headers HTTP itself (or the fetch implementation) puts on a response; a document does not declare them
 * (OpenAPI 3.1 §4.8.17.1: Content-Type is described by `content`, and the transport's own are not the API's).
 */
const TRANSPORT_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "date",
  "vary",
]);

export interface ExchangeCheck {
  /** mismatches between the exchange and the document, one sentence each */
  problems: string[];
  /** `METHOD /template status`, e.g. `GET /v1/edits/{id} 200`, for a log of what was covered */
  covered?: string;
}

export function openApiChecker(doc: Doc) {
  const ajv = new (Ajv2020 as any)({ allErrors: true, strict: false, validateFormats: true });
  ajv.addFormat("date-time", {
    type: "string",
    validate: (s: string) =>
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !isNaN(Date.parse(s)),
  });
  ajv.addFormat("binary", true);
  for (const format of new Set(JSON.stringify(doc).match(/"format":"[^"]+"/g) ?? [])) {
    const name = JSON.parse(`{${format}}`).format;
    if (!["date-time", "binary"].includes(name)) throw new Error(`no checker for format ${name}`);
  }
  const ID = "https://profs.test/openapi.json";
  ajv.addSchema({ ...doc, $id: ID });
  const validators = new Map<string, (value: unknown) => boolean>();
  const validate = (pointer: string, value: unknown): string[] => {
    let v = validators.get(pointer) as any;
    if (!v) {
      v = ajv.compile({ $ref: `${ID}#${pointer}` });
      validators.set(pointer, v);
    }
    return v(value) ? [] : (v.errors ?? []).map((e: any) => `${e.instancePath || "/"} ${e.message}`);
  };
  const deref = (value: Doc): Doc => {
    let out = value;
    while (out?.$ref) out = pointerGet(doc, out.$ref.slice(1));
    return out;
  };

  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    pattern: new RegExp("^" + template.replace(/\{[^}]+\}/g, "[^/]+") + "$"),
    literal: template.replace(/\{[^}]+\}/g, "").length,
  })).sort((a, b) => b.literal - a.literal);

  function operationOf(method: string, path: string) {
    const m = method.toLowerCase() === "head" ? "get" : method.toLowerCase();
    for (const t of templates) {
      if (t.pattern.test(path) && doc.paths[t.template][m]) {
        return { template: t.template, method: m, op: doc.paths[t.template][m] as Doc };
      }
    }
    return undefined;
  }

  /** Content type, headers and body of one message against a response (or request body) object. */
  function checkMessage(
    where: string,
    pointer: string,
    declared: Doc,
    headers: Headers,
    body: Uint8Array,
    method: string,
  ): string[] {
    const problems: string[] = [];
    const declaredHeaders = Object.fromEntries(
      Object.entries<Doc>(declared.headers ?? {}).map(([name, h]) => [name.toLowerCase(), deref(h)]),
    );
    for (const [name, value] of headers) {
      if (TRANSPORT_HEADERS.has(name)) continue;
      const h = declaredHeaders[name];
      if (!h) {
        problems.push(`${where}: header ${name} is sent but not declared`);
        continue;
      }
      if (h.schema?.enum && !h.schema.enum.includes(value)) {
        problems.push(`${where}: header ${name}: ${value} is not one of ${h.schema.enum.join(", ")}`);
      }
    }
    for (const [name, h] of Object.entries<Doc>(declaredHeaders)) {
      if (h.required && !headers.has(name)) problems.push(`${where}: required header ${name} is missing`);
    }
    const content = declared.content ?? {};
    const type = headers.get("content-type");
    if (Object.keys(content).length === 0) {
      if (body.byteLength > 0 && method !== "head") {
        problems.push(`${where}: a body (${type}) where none is declared`);
      }
      return problems;
    }
    if (!type) return [...problems, `${where}: no Content-Type; declared ${Object.keys(content).join(", ")}`];
    const media = Object.keys(content).find((m) => sameMediaType(m, type));
    if (!media) {
      return [
        ...problems,
        `${where}: Content-Type ${type} is not declared (${Object.keys(content).join(", ")})`,
      ];
    }
    const schema = content[media].schema;
    // A `format: binary` schema declares the bytes of a file of that type (a download, a range of one).
    if (!schema || method === "head" || deref(schema).format === "binary") return problems;
    const essence = type.split(";")[0].trim().toLowerCase();
    let value: unknown;
    if (essence === "application/json" || essence.endsWith("+json")) {
      try {
        value = JSON.parse(new TextDecoder().decode(body));
      } catch {
        return [...problems, `${where}: the ${type} body is not JSON`];
      }
    } else {
      value = new TextDecoder("utf-8", { fatal: true }).decode(body);
    }
    const at = `${pointer}/content/${escape(media)}/schema`;
    return [...problems, ...validate(at, value).map((e) => `${where}: body ${e}`)];
  }

  return {
    /** Checks one response to `method url`; reads a clone of its body. */
    async checkResponse(method: string, url: string, response: Response): Promise<ExchangeCheck> {
      const path = new URL(url).pathname;
      const found = operationOf(method, path);
      if (!found) return { problems: [`${method} ${path}: no such operation in the document`] };
      const statusKey = [String(response.status), `${String(response.status)[0]}XX`, "default"]
        .find((s) => found.op.responses?.[s]);
      const where = `${method} ${found.template} → ${response.status}`;
      if (!statusKey) return { problems: [`${where}: status not declared`] };
      const pointer = `/paths/${escape(found.template)}/${found.method}/responses/${statusKey}`;
      const declared = deref(found.op.responses[statusKey]);
      const body = new Uint8Array(await response.clone().arrayBuffer());
      return {
        problems: checkMessage(where, pointer, declared, response.headers, body, method.toLowerCase()),
        covered: `${method.toUpperCase()} ${found.template} ${response.status}`,
      };
    },

    /** Checks a request the service sent to a webhook receiver against `webhooks[type]`. */
    checkWebhook(type: string, headers: Headers, body: string): string[] {
      const op = doc.webhooks?.[type]?.post;
      if (!op) return [`webhook ${type}: not in the document's webhooks`];
      const problems: string[] = [];
      for (const p of (op.parameters ?? []).map(deref)) {
        if (p.in === "header" && p.required && !headers.has(p.name)) {
          problems.push(`webhook ${type}: required header ${p.name} is missing`);
        }
      }
      const declared = deref(op.requestBody);
      const media = Object.keys(declared.content).find((m) =>
        sameMediaType(m, headers.get("content-type") ?? "")
      );
      if (!media) {
        return [...problems, `webhook ${type}: Content-Type ${headers.get("content-type")} not declared`];
      }
      const at = `/webhooks/${escape(type)}/post/requestBody/content/${escape(media)}/schema`;
      return [...problems, ...validate(at, JSON.parse(body)).map((e) => `webhook ${type}: body ${e}`)];
    },
  };
}

/** JSON Pointer token escaping (RFC 6901). */
function escape(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

function pointerGet(doc: Doc, pointer: string): Doc {
  return pointer.split("/").slice(1).reduce(
    (node, token) => node?.[token.replaceAll("~1", "/").replaceAll("~0", "~")],
    doc,
  );
}

/** `text/markdown; charset=utf-8` matches `text/markdown;charset=UTF-8`; a declared range matches its members. */
function sameMediaType(declared: string, actual: string): boolean {
  const norm = (t: string) => t.toLowerCase().replace(/\s+/g, "").replace(/"/g, "");
  const [dEssence, ...dParams] = norm(declared).split(";");
  const [aEssence, ...aParams] = norm(actual).split(";");
  const essence = dEssence === aEssence || dEssence === "*/*" ||
    (dEssence.endsWith("/*") && aEssence.startsWith(dEssence.slice(0, -1)));
  return essence && dParams.every((p) => aParams.includes(p));
}
