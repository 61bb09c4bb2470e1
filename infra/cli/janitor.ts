/**
 * `profs janitor`: one pass of the blob janitor (infra/janitor.ts) over the service's database and blob store
 * (the same environment as `profs serve` / `profs api`), printing what it removed.
 */
import { parseArgs } from "node:util";
import { blobStoreConfigFromEnv, openBlobStore } from "../../shared/blobs/from_env.ts";
import { openDatabase } from "../../shared/db/index.ts";
import { InputError } from "../../shared/errors.ts";
import { janitorOptionsFromEnv, runJanitor } from "../janitor.ts";

export const USAGE = `usage: profs janitor [--grace-seconds N]

Removes, from the blob store of DATABASE_URL (else the embedded PGlite in PROFS_DATA_DIR) and PROFS_BLOB_DIR /
PROFS_BLOB_URL, the staging files of uploads that died and the blobs no row references, when they are older
than the grace period (PROFS_JANITOR_GRACE_SECONDS, default 3600). Keys of queued or running jobs are kept.
  --grace-seconds N   the grace period for this pass; below an upload's longest pause only when nothing is
                      uploading (0 removes every unreferenced blob at once)`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { help: { type: "boolean", short: "h" }, "grace-seconds": { type: "string" } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  let graceMs = janitorOptionsFromEnv().graceMs;
  if (values["grace-seconds"] !== undefined) {
    const n = Number(values["grace-seconds"]);
    if (!Number.isFinite(n) || n < 0) {
      throw new InputError(
        `Cannot run the janitor as '--grace-seconds' must be a number of seconds ≥ 0: current value is ${
          values["grace-seconds"]
        }`,
      );
    }
    graceMs = n * 1000;
  }
  const database = await openDatabase();
  try {
    const blobs = await openBlobStore(blobStoreConfigFromEnv());
    const report = await runJanitor({ db: database.db, blobs, graceMs });
    console.log(
      `removed ${report.staging} staging file(s) and ${report.blobs} unreferenced blob(s) (${report.bytes} bytes); ` +
        `kept ${report.kept} unreferenced (younger than ${graceMs / 1000} s or under a running job)`,
    );
  } finally {
    await database.close();
  }
}
