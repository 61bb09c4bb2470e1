/**
 * s3rver (a local S3-compatible server) in a Node child process with its own temporary directory, for tests of
 * the S3 blob store. Credentials are s3rver's fixed test pair.
 */
import { fileURLToPath } from "node:url";
import type { S3BlobStoreOptions } from "../../shared/blobs/s3.ts";

export interface LocalS3 {
  /** options for createS3BlobStore, with the given key prefix */
  options(prefix?: string): S3BlobStoreOptions;
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

export async function startS3rver(bucket = "profs-test"): Promise<LocalS3> {
  const dir = await Deno.makeTempDir({ prefix: "profs-s3rver-" });
  const child = new Deno.Command("node", {
    // s3rver ciphers its list continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    args: [
      "--openssl-legacy-provider",
      fileURLToPath(new URL("./s3rver_server.cjs", import.meta.url)),
      dir,
      bucket,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("s3rver exited before it listened");
    text += value;
  }
  const endpoint = `http://127.0.0.1:${JSON.parse(text).port}`;
  return {
    endpoint,
    bucket,
    options: (prefix = "") => ({
      bucket,
      prefix,
      endpoint,
      region: "us-east-1",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
    }),
    async close() {
      await child.stdin.close();
      await reader.cancel();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
