/**
 * The READMEs' runnable shell blocks (tests/helpers/doc_blocks.ts: README.md's terminal session, then
 * api/README.md's curl examples; `sh no-run` fences left out) run as written, in order, as one bash script:
 * README.md's block starts `profs serve` itself (embedded PGlite, in a temporary checkout) and every later block
 * talks to it through the variables earlier blocks set. The script runs under `set -euo pipefail` (an undefined
 * variable or a failing command stops it) with `curl` as `curl --fail-with-body` (an HTTP error fails the step
 * with its problem+json on stderr), a private HOME, and:
 *
 * - a temporary directory holding what a checkout has (deno.json copied, the source folders and node_modules
 *   linked), a tiny GPT-2 as `gpt2-medium/` and preference pairs as `pairs.jsonl`;
 * - `PORT`, a free port (the pages default to 8080);
 * - `HF_ENDPOINT`, a local server in the Hub's URL layout serving the tiny GPT-2 as `openai-community/gpt2`;
 * - `HOOK_URL`, a local webhook receiver, with `PROFS_WEBHOOK_ALLOWLIST` letting the service reach it.
 *
 * A marker line before each block names its page and line, so a failure says which block broke.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { docShellBlocks } from "../helpers/doc_blocks.ts";
import { serveHub } from "../helpers/hub_server.ts";
import { pairsJsonl } from "../worker/harness.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LINKED = ["main.ts", "api", "shared", "gpu-worker", "infra", "shaders", "node_modules", "package.json"];
const TOOLS = ["bash", "curl", "jq", "openssl", "setsid"];

function have(tool: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null", stderr: "null" })
    .outputSync().success;
}

const missing = TOOLS.filter((tool) => !have(tool));
if (missing.length) console.warn(`docs_run_test skipped: ${missing.join(", ")} not installed`);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test({
  name: "the READMEs' shell blocks run as written, in order, against the profs serve they start",
  ignore: missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "profs-docs-run-" });
    const checkout = join(dir, "checkout");
    await Deno.mkdir(join(dir, "home"), { recursive: true });
    await Deno.mkdir(checkout);
    await Deno.copyFile(join(ROOT, "deno.json"), join(checkout, "deno.json"));
    for (const name of LINKED) await Deno.symlink(join(ROOT, name), join(checkout, name));
    await writeTinyGpt2(join(checkout, "gpt2-medium"), { layers: 4, hidden: 24, positions: 128 });
    await Deno.writeTextFile(join(checkout, "pairs.jsonl"), pairsJsonl(16));
    const hubDir = join(dir, "hub-gpt2");
    await writeTinyGpt2(hubDir, { layers: 2, hidden: 24, seed: 5 });
    const hub = serveHub({ "openai-community/gpt2": { dir: hubDir } });
    const hooks: string[] = [];
    const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      hooks.push(await request.text());
      return new Response(null, { status: 204 });
    });

    const blocks = (await docShellBlocks()).filter((b) => b.run);
    const script = [
      "set -euo pipefail",
      // (not where the page already chose -f, which curl refuses to combine with --fail-with-body)
      'curl() { case " $* " in *" -f "* | *" -sf "* | *" --fail "*) command curl "$@" ;; ' +
      '*) command curl --fail-with-body "$@" ;; esac; }',
      ...blocks.map((b) => `echo '### ${b.page}:${b.line}' >&2\n${b.code}`),
      "echo '### done' >&2",
    ].join("\n");
    await Deno.writeTextFile(join(dir, "docs.sh"), script);

    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: join(dir, "home"),
      LANG: "C.UTF-8",
      PORT: String(freePort()),
      HF_ENDPOINT: hub.url,
      HOOK_URL: `http://127.0.0.1:${receiver.addr.port}/hook`,
      PROFS_WEBHOOK_ALLOWLIST: "127.0.0.1/32",
      PROFS_LOG_LEVEL: "warn",
    };
    for (const name of ["OPENBLAS_CORETYPE", "PROFS_THREADS", "PROFS_BLAS_LIB"]) {
      const value = Deno.env.get(name);
      if (value) env[name] = value;
    }
    // Its own session, so the service the script starts in the background is stopped with it (kill -- -pgid).
    const child = new Deno.Command("setsid", {
      args: ["bash", join(dir, "docs.sh")],
      cwd: checkout,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killGroup = () => {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(killGroup, 6 * 60_000);
    try {
      // Read both pipes while it runs; the service in the background holds them open until the group is killed.
      const reading = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
      const { code } = await child.status;
      killGroup();
      const [out, err] = await reading;
      const last = [...err.matchAll(/^### (.+)$/gm)].at(-1)?.[1];
      assert.equal(
        code,
        0,
        `the docs stopped in the block at ${last} (exit ${code}):\n--- stderr (tail)\n${err.slice(-6000)}\n` +
          `--- stdout (tail)\n${out.slice(-3000)}`,
      );
      assert.equal(last, "done");
      // What the pages promise a reader sees: ids, a downloaded edit, a continuation, the imported Hub model.
      assert.ok((await Deno.stat(join(checkout, "edited", "model.safetensors"))).isFile);
      assert.ok(
        (await Deno.stat(join(checkout, "model.safetensors"))).isFile,
        "api/README's ranged download",
      );
      assert.ok(
        hub.requests.some((p) => p.startsWith("/openai-community/gpt2/resolve/")),
        "the Hub import ran",
      );
      assert.match(out, /"scorer":\s*"lexicon"/, "the toxicity example answered");
    } finally {
      clearTimeout(timer);
      killGroup();
      await hub.shutdown();
      await receiver.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
