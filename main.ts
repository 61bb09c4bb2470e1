/**
 * profs command line: one entry point, one subcommand per job.
 *
 *   deno task profs <command> [options]      (deno task profs <command> --help for its options)
 *
 * Each command lives with the side of the system it belongs to and exports `run(args): Promise<void>`; this
 * file only routes. An `InputError` (bad flag, bad file) prints one line and exits 1; `Interrupted` (SIGINT or
 * SIGTERM, after the command removed its partial output) prints one line and exits 128 + the signal's number;
 * anything else is a bug and prints its stack.
 *
 * Before any command: `--version`; `--log-format text|json` (anywhere; readable lines or JSON on stderr, by
 * default text on a terminal); and a private XDG_RUNTIME_DIR when none is set, since Mesa's Vulkan driver
 * prints "XDG_RUNTIME_DIR is invalid or not set" on every device otherwise.
 */
import { InputError, Interrupted } from "./shared/errors.ts";
import { PROFS_VERSION } from "./shared/version.ts";

export interface Command {
  summary: string;
  load: () => Promise<{ run(args: string[]): Promise<void> }>;
}

const COMMANDS: Record<string, Command> = {
  edit: {
    summary: "edit a model folder with ProFS from preference pairs or embeddings",
    load: () => import("./gpu-worker/cli/edit.ts"),
  },
  tune: {
    summary:
      "search layers, rank and centering for the best margin-vs-KL edit; writes it with tune.json + report.html",
    load: () => import("./gpu-worker/cli/tune.ts"),
  },
  "apply-patch": {
    summary: "apply (or --revert) a patch.safetensors to a model folder",
    load: () => import("./gpu-worker/cli/apply_patch.ts"),
  },
  generate: {
    summary: "greedy continuation of a prompt with a model folder, offline, streaming tokens",
    load: () => import("./gpu-worker/cli/generate.ts"),
  },
  check: {
    summary: "the service's check offline: toxicity, perplexity, KL to --base; check.json + report.html",
    load: () => import("./gpu-worker/cli/check.ts"),
  },
  "export-lora": {
    summary: "write a patch.safetensors as a PEFT LoRA adapter of its base model",
    load: () => import("./gpu-worker/cli/export_lora.ts"),
  },
  serve: {
    summary: "run the embedded service: API + in-process worker (PGlite unless DATABASE_URL is set)",
    load: () => import("./infra/cli/serve.ts"),
  },
  api: {
    summary: "run the API only, against DATABASE_URL (workers run separately)",
    load: () => import("./infra/cli/api.ts"),
  },
  worker: {
    summary: "run a worker process that claims jobs from DATABASE_URL",
    load: () => import("./gpu-worker/cli/worker.ts"),
  },
  dispatcher: {
    summary: "run a webhook dispatcher process that delivers the outbox of DATABASE_URL",
    load: () => import("./gpu-worker/webhooks/cli.ts"),
  },
  login: {
    summary: "store the service URL and API key for the client commands (else PROFS_URL + PROFS_API_KEY)",
    load: () => import("./infra/client/login.ts"),
  },
  models: {
    summary: "client: upload (parallel, resumable), list, show, delete models",
    load: () => import("./infra/client/models.ts"),
  },
  datasets: {
    summary: "client: upload, list, show, delete datasets (pairs, texts, embeddings)",
    load: () => import("./infra/client/datasets.ts"),
  },
  edits: {
    summary: "client: create (--follow), list, show, events, cancel, download edits",
    load: () => import("./infra/client/edits.ts"),
  },
  tunes: {
    summary: "client: create (--follow), list, show, events, cancel, download tunes",
    load: () => import("./infra/client/tunes.ts"),
  },
  checks: {
    summary: "client: create (--wait), list, show checks of a model or an edit",
    load: () => import("./infra/client/checks.ts"),
  },
  toxicity: {
    summary: "client: score texts with the service's toxicity scorer",
    load: () => import("./infra/client/toxicity.ts"),
  },
  webhooks: {
    summary:
      "client: webhook endpoints (create, list, deliveries, rotate-secret…) and triggers (create, fire…)",
    load: () => import("./infra/client/webhooks.ts"),
  },
  keys: {
    summary: "create, list and revoke API keys (over HTTP when a service is configured, else --local)",
    load: () => import("./infra/client/keys.ts"),
  },
  migrate: {
    summary: "apply database migrations and exit",
    load: () => import("./infra/cli/migrate.ts"),
  },
  janitor: {
    summary: "remove dead uploads' staging files and blobs no row references (older than a grace period)",
    load: () => import("./infra/cli/janitor.ts"),
  },
  demo: {
    summary: "run the demo: embedded service, demo model, an edit and a check, before/after table",
    load: () => import("./infra/cli/demo.ts"),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    "usage: profs <command> [options]",
    "",
    "commands:",
    ...lines,
    "",
    "profs <command> --help for options; profs --version; --log-format text|json (stderr logs)",
    "client commands: PROFS_URL + PROFS_API_KEY (or profs login); --json on each for scripts",
  ]
    .join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const args = takeLogFormat(argv);
  const [name, ...rest] = args;
  if (name === "--version" || name === "-V") {
    console.log(`profs ${PROFS_VERSION} (deno ${Deno.version.deno}, v8 ${Deno.version.v8})`);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`profs: unknown command '${name}'\n\n${usage()}`);
    return 1;
  }
  try {
    const module = await command.load();
    await module.run(rest);
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      console.error(`profs ${name}: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof InputError) {
      console.error(`profs ${name}: ${error.message}`);
      return 1;
    }
    if (error instanceof TypeError && isParseArgsError(error)) {
      // One line, as every other refusal: parseArgs spreads some over three ("--rank -1": ambiguous, …).
      console.error(`profs ${name}: ${error.message.replace(/\s*\n\s*/g, " ")}`);
      return 1;
    }
    throw error;
  }
}

/** Removes `--log-format X` / `--log-format=X` and passes it on as PROFS_LOG_FORMAT (shared/log.ts reads it). */
export function takeLogFormat(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    let value: string | undefined;
    if (arg === "--log-format") value = args[++i];
    else if (arg.startsWith("--log-format=")) value = arg.slice("--log-format=".length);
    else {
      out.push(arg);
      continue;
    }
    if (value !== "text" && value !== "json") {
      throw new InputError(
        `Cannot start as '--log-format' must be text or json: current value is '${value}'`,
      );
    }
    Deno.env.set("PROFS_LOG_FORMAT", value);
  }
  return out;
}

/** A private XDG_RUNTIME_DIR (0700, as the spec asks) when none is set, so Mesa stays quiet. */
export function ensureRuntimeDir(): void {
  const current = Deno.env.get("XDG_RUNTIME_DIR");
  if (current) {
    try {
      if (Deno.statSync(current).isDirectory) return;
    } catch {
      // missing: make one below
    }
  }
  const dir = Deno.makeTempDirSync({ prefix: "profs-runtime-" });
  Deno.chmodSync(dir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}

/** node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed flags. */
function isParseArgsError(error: TypeError): boolean {
  const code = (error as { code?: string }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

if (import.meta.main) {
  ensureRuntimeDir();
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    console.error(`profs: ${error.message}`);
    code = 1;
  }
  Deno.exit(code);
}
