import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { applyMigrations, MIGRATIONS_FOLDER, openDatabase } from "../../shared/db/index.ts";
import { noPostgres } from "../helpers/env.ts";
import { createServerDatabase, dropServerDatabase, freshDatabase } from "./harness.ts";

const journal = JSON.parse(await Deno.readTextFile(join(MIGRATIONS_FOLDER, "meta/_journal.json")));
const ALL_TAGS: string[] = journal.entries.map((e: { tag: string }) => e.tag);

Deno.test({
  name: "two processes' worth of migrations started together on a Postgres server apply each migration once",
  ignore: noPostgres(),
  async fn() {
    const url = await createServerDatabase();
    try {
      // Separate pools, as separate API/worker processes would have; both migrate on open.
      const [one, two] = await Promise.all([
        openDatabase({ url, migrate: false }),
        openDatabase({ url, migrate: false }),
      ]);
      const reports = await Promise.all([applyMigrations(one.db), applyMigrations(two.db)]);
      assert.deepEqual(reports.map((r) => r.applied).sort((x, y) => y.length - x.length), [ALL_TAGS, []]);
      const rows = await one.db.execute(sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
      assert.equal(Array.from(rows as Iterable<{ n: number }>)[0].n, ALL_TAGS.length);
      assert.deepEqual((await applyMigrations(two.db)).applied, []);
      await one.close();
      await two.close();
    } finally {
      await dropServerDatabase(url);
    }
  },
});

Deno.test("two concurrent migration runs on one PGlite apply each migration once", async () => {
  const database = await freshDatabase("pglite", { migrate: false });
  try {
    const reports = await Promise.all([applyMigrations(database.db), applyMigrations(database.db)]);
    assert.deepEqual(reports.map((r) => r.applied).sort((x, y) => y.length - x.length), [ALL_TAGS, []]);
  } finally {
    await database.close();
  }
});

Deno.test("an embedded database in a data directory keeps its rows and migrations across restarts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-db-" });
  try {
    const first = await openDatabase({ dataDir });
    await first.db.execute(sql`INSERT INTO tenants (name) VALUES ('kept')`);
    await first.close();
    const second = await openDatabase({ dataDir, migrate: false });
    assert.deepEqual((await applyMigrations(second.db)).applied, []);
    const { rows } = await second.db.execute(sql`SELECT name FROM tenants`) as unknown as { rows: unknown[] };
    assert.deepEqual(rows, [{ name: "kept" }]);
    await second.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the committed migrations match shared/db/schema.ts (drizzle-kit generates nothing new)", async () => {
  const out = await Deno.makeTempDir({ prefix: "profs-migrations-" });
  try {
    await new Deno.Command("cp", { args: ["-r", `${MIGRATIONS_FOLDER}/.`, out] }).output();
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const config = join(out, "drizzle.config.json");
    // drizzle-kit prefixes `out` with "./", so it must be relative to the working directory.
    await Deno.writeTextFile(
      config,
      JSON.stringify({ dialect: "postgresql", schema: "./shared/db/schema.ts", out: relative(root, out) }),
    );
    const result = await new Deno.Command("node", {
      args: ["node_modules/drizzle-kit/bin.cjs", "generate", `--config=${config}`],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, text);
    assert.match(text, /No schema changes/, `schema drift: run 'deno task db:generate'\n${text}`);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.endsWith(".sql")).sort();
    assert.deepEqual(
      files,
      ALL_TAGS.map((t) => `${t}.sql`),
      `schema drift: run 'deno task db:generate'\n${text}`,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an embedded data directory opens in one place at a time, and again once closed", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-lock-" });
  try {
    const first = await openDatabase({ dataDir });
    await assert.rejects(
      openDatabase({ dataDir }),
      { name: "InputError", message: /Cannot open the embedded database .* must not be open elsewhere/ },
    );
    await first.close();
    const second = await openDatabase({ dataDir });
    await second.close();
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
