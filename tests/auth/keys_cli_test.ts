import assert from "node:assert/strict";
import { authenticateApiKey } from "../../api/auth/index.ts";
import { openDatabase } from "../../shared/db/index.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function profs(dataDir: string, ...args: string[]) {
  const env = { PROFS_DATA_DIR: dataDir, DATABASE_URL: "" };
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", MAIN, ...args], env }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("profs keys: create prints the key once, list shows it without the secret, revoke disables it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-keys-" });
  try {
    const created = await profs(
      dataDir,
      "keys",
      "create",
      "--tenant",
      "acme",
      "--scopes",
      "edits:read",
      "--name",
      "ci",
    );
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout;
    assert.match(key, /^profs_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const publicId = key.slice(6, 18);

    const listed = await profs(dataDir, "keys", "list", "--tenant", "acme");
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${publicId}\\s+ci\\s+edits:read`));
    assert.ok(!listed.stdout.includes(key.slice(19)), "the secret is never shown again");

    let database = await openDatabase({ dataDir });
    assert.deepEqual((await authenticateApiKey(database.db, key))?.scopes, ["edits:read"]);
    await database.close();

    const revoked = await profs(dataDir, "keys", "revoke", "--tenant", "acme", publicId);
    assert.equal(revoked.code, 0, revoked.stderr);
    database = await openDatabase({ dataDir });
    assert.equal(await authenticateApiKey(database.db, key), null);
    await database.close();

    const bad = await profs(dataDir, "keys", "create", "--tenant", "acme", "--scopes", "edits:delete");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^profs keys: Cannot create a key as '--scopes' must list/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
