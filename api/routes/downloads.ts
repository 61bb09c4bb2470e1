/**
 * Artifact downloads, shared by the edits' and checks' routes: streamed from the blob store with Content-Length,
 * ETag (the sha256), If-None-Match and one Range (RFC 9110 §14).
 */
import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import type { ByteRange } from "../../shared/blobs/store.ts";
import type { Artifact } from "../../shared/db/index.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError } from "../errors.ts";
import { problems } from "./common.ts";
import { releasingBody, type StreamLimiter } from "../stream_limiter.ts";

/** The OpenAPI responses of an artifact download (`downloadArtifact`), shared by edits' and checks' routes. */
export const ARTIFACT_RESPONSES = {
  200: {
    description: "the artifact",
    content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } },
  },
  206: { description: "the requested range" },
  304: { description: "not modified (If-None-Match)" },
  ...problems(401, 403, 404, 416, 429),
};

/**
 * Streams an artifact from the blob store. ETag is the quoted sha256 (strong: equal bytes, equal tag), so
 * If-None-Match gives 304 and If-Range guards a resumed download against a changed file.
 */
export async function downloadArtifact(
  deps: ApiDeps,
  c: Context<ApiEnv>,
  artifact: Artifact,
  streams: StreamLimiter,
): Promise<Response> {
  const etag = `"${artifact.sha256}"`;
  const headers: Record<string, string> = {
    ETag: etag,
    "Accept-Ranges": "bytes",
    "Content-Type": artifact.contentType,
    "Content-Disposition": `attachment; filename="${artifact.name.replaceAll('"', "")}"`,
    "Cache-Control": "private, max-age=0, must-revalidate",
    "X-Request-Id": c.get("requestId"),
  };
  const ifNoneMatch = c.req.header("If-None-Match");
  if (ifNoneMatch && ifNoneMatch.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
    // What a 200 would have carried for caches to refresh (RFC 9110 §15.4.5), nothing about a body.
    const { ETag, "Cache-Control": cacheControl, "X-Request-Id": id } = headers;
    return new Response(null, {
      status: 304,
      headers: { ETag, "Cache-Control": cacheControl, "X-Request-Id": id },
    });
  }
  const rangeHeader = c.req.header("Range");
  const ifRange = c.req.header("If-Range");
  const useRange = rangeHeader !== undefined && (ifRange === undefined || ifRange === etag);
  const range = useRange ? parseRange(rangeHeader, artifact.size) : null;
  if (range === "unsatisfiable") {
    throw new ApiError(416, "range-not-satisfiable", `The artifact has ${artifact.size} bytes`, {
      headers: { "Content-Range": `bytes */${artifact.size}` },
    });
  }
  if (c.req.method === "HEAD") {
    // hono answers HEAD through the GET route and drops the body: do not open a file nobody will read.
    headers["Content-Length"] = String(range ? range.end - range.start + 1 : artifact.size);
    if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${artifact.size}`;
    return new Response(null, { status: range ? 206 : 200, headers });
  }
  // A download holds one of the tenant's stream slots until its body ends or the client goes away.
  const release = streams.open(c.get("principal").tenantId, `a download of '${artifact.name}'`);
  let blob;
  try {
    blob = await deps.blobs.get(artifact.blobKey, range ?? undefined);
  } catch (error) {
    release();
    throw error;
  }
  if (!blob) {
    release();
    throw new Error(`artifact ${artifact.id} has no blob at ${artifact.blobKey}`);
  }
  const body = releasingBody(blob.body, release);
  if (range) {
    headers["Content-Range"] = `bytes ${range.start}-${range.end}/${blob.size}`;
    headers["Content-Length"] = String(range.end - range.start + 1);
    return new Response(body, { status: 206, headers });
  }
  headers["Content-Length"] = String(blob.size);
  return new Response(body, { status: 200, headers });
}

/**
 * One `bytes=` range (first-last, first-, -suffix) → inclusive range; null means "send the whole file" (a header
 * we do not understand or several ranges: RFC 9110 lets a server ignore Range), "unsatisfiable" → 416.
 */
export function parseRange(header: string, size: number): ByteRange | null | "unsatisfiable" {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return null;
  return { start, end };
}
