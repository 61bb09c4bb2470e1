/**
 * `deno task bench`: runs every `tests/bench/*_bench.ts` (or those whose name contains an argument) in its own
 * process, one after another so they do not compete for the machine's cores, and lets each print its figures.
 */
const filters = Deno.args;
const dir = new URL(".", import.meta.url);
const files = [...Deno.readDirSync(dir)]
  .map((entry) => entry.name)
  .filter((name) => name.endsWith("_bench.ts"))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

let failed = 0;
for (const name of files) {
  console.log(`\n=== ${name}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(name, dir).pathname],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) {
    failed++;
    console.error(`${name} failed with exit code ${status.code}`);
  }
}
if (files.length === 0) console.log("no benchmark matched", filters);
Deno.exit(failed ? 1 : 0);
