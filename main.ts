/**
 * profs command line: one entry point, one subcommand per job.
 *
 *   deno task profs <command> [options]      (deno task profs <command> --help for its options)
 *
 * Each command lives with the side of the system it belongs to and exports `run(args): Promise<void>`; this
 * file only routes. An `InputError` (bad flag, bad file) prints one line and exits 1; `Interrupted` (SIGINT or
 * SIGTERM, after the command removed its partial output) prints one line and exits 128 + the signal's number;
 * anything else is a bug and prints its stack.
 */
import { InputError, Interrupted } from "./shared/errors.ts";

export interface Command {
  summary: string;
  load: () => Promise<{ run(args: string[]): Promise<void> }>;
}

const COMMANDS: Record<string, Command> = {
  edit: {
    summary: "edit a model folder with ProFS from preference pairs or embeddings",
    load: () => import("./gpu-worker/cli/edit.ts"),
  },
  "apply-patch": {
    summary: "apply (or --revert) a patch.safetensors to a model folder",
    load: () => import("./gpu-worker/cli/apply_patch.ts"),
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
  keys: {
    summary: "create, list and revoke API keys",
    load: () => import("./api/cli/keys.ts"),
  },
  migrate: {
    summary: "apply database migrations and exit",
    load: () => import("./infra/cli/migrate.ts"),
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
    "profs <command> --help for options",
  ]
    .join("\n");
}

export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
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
    if (error instanceof InputError || (error instanceof TypeError && isParseArgsError(error))) {
      console.error(`profs ${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/** node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed flags. */
function isParseArgsError(error: TypeError): boolean {
  const code = (error as { code?: string }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
