/**
 * Where the client finds its service: PROFS_URL and PROFS_API_KEY, else the file `profs login` writes
 * (`$PROFS_CONFIG`, else `$XDG_CONFIG_HOME/profs/config.json`, else `~/.config/profs/config.json`), mode 0600.
 */
import { dirname, join } from "node:path";
import { z } from "zod";
import { InputError } from "../../shared/errors.ts";

export const ClientConfig = z.object({ url: z.url(), key: z.string().min(1) });
export type ClientConfig = z.infer<typeof ClientConfig>;

export function configPath(env: (name: string) => string | undefined = Deno.env.get): string {
  const explicit = env("PROFS_CONFIG");
  if (explicit) return explicit;
  const base = env("XDG_CONFIG_HOME") || join(env("HOME") ?? ".", ".config");
  return join(base, "profs", "config.json");
}

/** The configured service, or null when neither the environment nor the config file names one. */
export async function findConfig(
  env: (name: string) => string | undefined = Deno.env.get,
): Promise<ClientConfig | null> {
  let fromFile: Partial<ClientConfig> = {};
  const path = configPath(env);
  try {
    fromFile = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new InputError(`Cannot read the client config '${path}' as it must be JSON: ${error}`);
    }
  }
  const url = env("PROFS_URL") || fromFile.url;
  const key = env("PROFS_API_KEY") || fromFile.key;
  if (!url || !key) return null;
  const parsed = ClientConfig.safeParse({ url, key });
  if (!parsed.success) {
    throw new InputError(
      `Cannot use the service URL as it must be an http(s) URL: current value is '${url}'`,
    );
  }
  return parsed.data;
}

export async function requireConfig(): Promise<ClientConfig> {
  const config = await findConfig();
  if (!config) {
    throw new InputError(
      "Cannot reach the service as PROFS_URL and PROFS_API_KEY must be set (or run `profs login URL`): " +
        "they are not",
    );
  }
  return config;
}

export async function saveConfig(config: ClientConfig, path = configPath()): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  return path;
}
