/**
 * The one place that decides which blob store the API and worker processes open, from the environment:
 *
 * - PROFS_BLOB_URL=s3://bucket/prefix: an S3 bucket (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional
 *   AWS_SESSION_TOKEN, AWS_REGION default us-east-1, PROFS_S3_ENDPOINT for an S3-compatible server);
 * - else a local directory: PROFS_BLOB_DIR, else PROFS_DATA_DIR/blobs (PROFS_DATA_DIR default .data).
 *
 * Every API and worker process of one service must get the same answer.
 */
import { join } from "node:path";
import { InputError } from "../errors.ts";
import { createLocalBlobStore } from "./local.ts";
import { createS3BlobStore, type S3BlobStoreOptions } from "./s3.ts";
import type { BlobStore } from "./store.ts";

export type BlobStoreConfig =
  | { kind: "local"; dir: string }
  | { kind: "s3"; options: S3BlobStoreOptions };

type Env = (name: string) => string | undefined;

export function blobStoreConfigFromEnv(env: Env = (name) => Deno.env.get(name)): BlobStoreConfig {
  const url = env("PROFS_BLOB_URL");
  if (!url) {
    return { kind: "local", dir: env("PROFS_BLOB_DIR") || join(env("PROFS_DATA_DIR") || ".data", "blobs") };
  }
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match) {
    throw new InputError(
      `Cannot open the blob store as PROFS_BLOB_URL must be s3://<bucket>[/<prefix>]: current value is ${url}`,
    );
  }
  if (env("PROFS_BLOB_DIR")) {
    throw new InputError(
      "Cannot open the blob store as PROFS_BLOB_DIR and PROFS_BLOB_URL must not both be set",
    );
  }
  const accessKeyId = env("AWS_ACCESS_KEY_ID");
  const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey) {
    throw new InputError(
      "Cannot open the S3 blob store as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set: one is unset",
    );
  }
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  return {
    kind: "s3",
    options: {
      bucket: match[1],
      prefix: prefix ? `${prefix}/` : "",
      endpoint: env("PROFS_S3_ENDPOINT") || undefined,
      region: env("AWS_REGION") || "us-east-1",
      accessKeyId,
      secretAccessKey,
      sessionToken: env("AWS_SESSION_TOKEN") || undefined,
    },
  };
}

export function openBlobStore(config: BlobStoreConfig): Promise<BlobStore> {
  return config.kind === "local" ? createLocalBlobStore(config.dir) : createS3BlobStore(config.options);
}
