/**
 * Blob store in an S3 bucket (AWS S3 or any S3-compatible server: MinIO, Ceph, R2, s3rver in the tests), for a
 * scaled-out service whose machines share no filesystem. Requests are signed with SigV4 by aws4fetch.
 *
 * All-or-nothing puts come from S3 itself: a single PUT and a CompleteMultipartUpload each make an object
 * visible only whole, replacing the previous object in one step, and the parts of an upload that was never
 * completed are invisible under the key. So a put buffers up to `partBytes`; a body that fits is one PUT, a
 * larger one becomes a multipart upload that is completed only after the whole stream was read within the
 * cap, and aborted otherwise. A process killed mid-upload leaves an incomplete upload that no reader sees;
 * a bucket lifecycle rule (AbortIncompleteMultipartUpload) reclaims its parts.
 */
import { createHash } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { InputError } from "../errors.ts";
import {
  type BlobInfo,
  type BlobRead,
  type BlobStat,
  type BlobStore,
  BlobTooLargeError,
  type ByteRange,
  checkBlobKey,
  type PutOptions,
} from "./store.ts";

export interface S3BlobStoreOptions {
  bucket: string;
  /** key prefix inside the bucket, "" or ending in "/" */
  prefix: string;
  /** e.g. http://127.0.0.1:9000 for an S3-compatible server (path-style URLs); absent: AWS S3 in `region` */
  endpoint?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** bytes per multipart part, and the largest body sent as one PUT (S3's minimum part is 5 MiB) */
  partBytes?: number;
}

const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
const DELETE_CONCURRENCY = 8;

export async function createS3BlobStore(options: S3BlobStoreOptions): Promise<BlobStore> {
  const client = new AwsClient({
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    sessionToken: options.sessionToken,
    region: options.region,
    service: "s3",
    retries: 3,
  });
  const base = options.endpoint
    ? `${options.endpoint.replace(/\/+$/, "")}/${encodeURIComponent(options.bucket)}`
    : `https://${options.bucket}.s3.${options.region}.amazonaws.com`;
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  const objectName = (key: string) => options.prefix + checkBlobKey(key);

  async function request(
    method: string,
    name: string,
    init: { query?: Record<string, string>; headers?: Record<string, string>; body?: Uint8Array | string } =
      {},
    expected: number[] = [],
  ): Promise<Response> {
    const url = new URL(`${base}/${name.split("/").map(encodeURIComponent).join("/")}`);
    for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
    const response = await client.fetch(url.toString(), {
      method,
      headers: init.headers,
      body: init.body as BodyInit | undefined,
    });
    if (response.ok || expected.includes(response.status)) return response;
    const text = await response.text().catch(() => "");
    const code = xmlValues(text, "Code")[0] ?? response.statusText;
    throw new Error(
      `S3 ${method} ${name || "/"} in bucket '${options.bucket}' failed: ${response.status} ${code}`,
    );
  }

  const headBucket = await request("HEAD", "", {}, [403, 404]);
  if (!headBucket.ok) {
    throw new InputError(
      `Cannot open the blob store as bucket '${options.bucket}' at ${base} must exist and be readable ` +
        `with the given credentials: it answered ${headBucket.status}`,
    );
  }

  async function put(
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    putOptions: PutOptions = {},
  ): Promise<BlobInfo> {
    const name = objectName(key);
    const maxBytes = putOptions.maxBytes ?? Infinity;
    const hash = putOptions.sha256 ? null : createHash("sha256");
    putOptions.sha256?.catch(() => {}); // awaited once the body was read; a rejection before that is not unhandled
    let size = 0;
    let sha256: string;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let uploadId: string | null = null;
    const etags: string[] = [];

    const sendPart = async () => {
      uploadId ??= xmlValues(
        await (await request("POST", name, { query: { uploads: "" } })).text(),
        "UploadId",
      )[0];
      if (!uploadId) throw new Error(`S3 CreateMultipartUpload for ${name} returned no UploadId`);
      const part = concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const response = await request("PUT", name, {
        query: { partNumber: String(etags.length + 1), uploadId },
        body: part,
      });
      await response.body?.cancel();
      etags.push(response.headers.get("ETag") ?? "");
    };

    try {
      const stream = body instanceof Uint8Array ? ReadableStream.from([body]) : body;
      for await (const chunk of stream) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
        hash?.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        if (pendingBytes >= partBytes) await sendPart();
      }
      // The producer's hash comes before the object does: a producer that failed after its last byte stores nothing.
      sha256 = hash ? hash.digest("hex") : await putOptions.sha256!;
      await putOptions.beforePublish?.({ key, size, sha256 });
      if (uploadId === null) {
        await (await request("PUT", name, { body: concat(pending, pendingBytes) })).body?.cancel();
      } else {
        if (pendingBytes > 0) await sendPart();
        const parts = etags.map((etag, i) =>
          `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`
        );
        const response = await request("POST", name, {
          query: { uploadId },
          body: `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`,
        });
        // S3 may answer 200 and still report a failed completion in the body.
        const text = await response.text();
        if (text.includes("<Error>")) {
          throw new Error(`S3 CompleteMultipartUpload for ${name} failed: ${xmlValues(text, "Code")[0]}`);
        }
      }
    } catch (error) {
      if (uploadId !== null) {
        await request("DELETE", name, { query: { uploadId } }).then((r) => r.body?.cancel(), () => {});
      }
      throw error;
    }
    return { key, size, sha256 };
  }

  async function stat(key: string): Promise<BlobStat | null> {
    const response = await request("HEAD", objectName(key), {}, [404]);
    if (response.status === 404) return null;
    return {
      size: Number(response.headers.get("Content-Length")),
      modified: new Date(response.headers.get("Last-Modified") ?? 0),
    };
  }

  async function get(key: string, range?: ByteRange): Promise<BlobRead | null> {
    const outside = (size: string) =>
      new RangeError(`range ${range!.start}-${range!.end} is outside a blob of ${size} bytes`);
    if (range && !(range.start >= 0 && range.start <= range.end)) throw outside("any number of");
    const headers: Record<string, string> = range ? { Range: `bytes=${range.start}-${range.end}` } : {};
    const response = await request("GET", objectName(key), { headers }, [404, 416]);
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 416) {
      await response.body?.cancel();
      throw outside(String((await stat(key))?.size ?? "fewer"));
    }
    if (!range) {
      return {
        body: response.body ?? ReadableStream.from<Uint8Array>([]),
        size: Number(response.headers.get("Content-Length")),
        range: null,
      };
    }
    // S3 shortens a range that runs past the end; the interface refuses it, as the local store does.
    const [, start, end, total] =
      /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("Content-Range") ?? "") ??
        [];
    if (response.status !== 206 || Number(start) !== range.start || Number(end) !== range.end) {
      await response.body?.cancel();
      throw outside(total ?? "unknown");
    }
    return { body: response.body ?? ReadableStream.from<Uint8Array>([]), size: Number(total), range };
  }

  async function remove(key: string): Promise<boolean> {
    if ((await stat(key)) === null) return false;
    await (await request("DELETE", objectName(key))).body?.cancel();
    return true;
  }

  async function list(prefix: string): Promise<string[]> {
    const full = `${objectName(prefix)}/`;
    const keys: string[] = [];
    let token: string | null = null;
    do {
      const query: Record<string, string> = { "list-type": "2", prefix: full };
      if (token !== null) query["continuation-token"] = token;
      const text = await (await request("GET", "", { query })).text();
      for (const name of xmlValues(text, "Key")) keys.push(name.slice(options.prefix.length));
      token = xmlValues(text, "IsTruncated")[0] === "true"
        ? xmlValues(text, "NextContinuationToken")[0]
        : null;
    } while (token !== null);
    return keys.sort();
  }

  async function deletePrefix(prefix: string): Promise<void> {
    const keys = await list(prefix);
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
      await Promise.all(
        keys.slice(i, i + DELETE_CONCURRENCY).map(async (key) =>
          (await request("DELETE", objectName(key))).body?.cancel()
        ),
      );
    }
  }

  /**
   * Aborts this store's multipart uploads started before `before` (their parts cost storage until then); 0 on a
   * server that cannot list them (501).
   */
  async function sweepStaging(before: Date): Promise<number> {
    let aborted = 0;
    let marker: { key: string; id: string } | null = null;
    do {
      const query: Record<string, string> = { uploads: "", prefix: options.prefix };
      if (marker) Object.assign(query, { "key-marker": marker.key, "upload-id-marker": marker.id });
      const response = await request("GET", "", { query }, [501]);
      // A server without ListMultipartUploads (s3rver, some S3-compatible stores): its own lifecycle rules must
      // abort incomplete uploads; nothing to sweep from here.
      if (response.status === 501) {
        await response.body?.cancel();
        return aborted;
      }
      const text = await response.text();
      for (const upload of text.match(/<Upload>[\s\S]*?<\/Upload>/g) ?? []) {
        const [name] = xmlValues(upload, "Key");
        const [uploadId] = xmlValues(upload, "UploadId");
        const initiated = new Date(xmlValues(upload, "Initiated")[0] ?? NaN);
        if (!name || !uploadId || !(initiated < before)) continue;
        await (await request("DELETE", name, { query: { uploadId } }, [404])).body?.cancel();
        aborted++;
      }
      marker = xmlValues(text, "IsTruncated")[0] === "true"
        ? {
          key: xmlValues(text, "NextKeyMarker")[0] ?? "",
          id: xmlValues(text, "NextUploadIdMarker")[0] ?? "",
        }
        : null;
    } while (marker !== null);
    return aborted;
  }

  return {
    put,
    get,
    stat,
    exists: async (key) => (await stat(key)) !== null,
    delete: remove,
    list,
    deletePrefix,
    sweepStaging,
    localPath: () => null,
  };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** The text of every `<tag>` element in an S3 XML answer (S3's answers are flat enough for this). */
function xmlValues(xml: string, tag: string): string[] {
  const values: string[] = [];
  for (const match of xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))) {
    values.push(
      match[1].replace(
        /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g,
        (_, e: string) =>
          e[0] === "#"
            ? String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
            : { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e]!,
      ),
    );
  }
  return values;
}
