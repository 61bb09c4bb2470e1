/** `profs login URL [--key KEY]`: checks the key against the service and writes the client config (0600). */
import { InputError } from "../../shared/errors.ts";
import { configPath, saveConfig } from "./config.ts";
import { parse, str } from "./common.ts";
import { ensureOk, http } from "./http.ts";
import { note, printJson } from "./output.ts";

export const USAGE = `usage: profs login URL [--key KEY]

  stores URL and the API key (--key, else PROFS_API_KEY, else read from stdin) in ${configPath()}
  after checking them with one request; the client commands use it when PROFS_URL is unset`;

export async function run(args: string[]): Promise<void> {
  const p = parse(args, { key: { type: "string" } }, USAGE);
  if (!p) return;
  const [url, ...rest] = p.positionals;
  if (!url || rest.length) throw new InputError("Cannot log in as exactly one URL must be given");
  let key = str(p.values.key) ?? Deno.env.get("PROFS_API_KEY");
  if (!key) {
    if (Deno.stdin.isTerminal()) await Deno.stderr.write(new TextEncoder().encode("API key: "));
    key = (await new Response(Deno.stdin.readable).text()).trim();
  }
  if (!key) throw new InputError("Cannot log in as an API key must be given: --key, PROFS_API_KEY or stdin");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`Cannot log in as the URL must be an http(s) URL: current value is '${url}'`);
  }
  // Any answer but 401 means the key is valid (a key without models:read gets a 403 here).
  const response = await http({ url: parsed.href, key }).fetch("/v1/models?limit=1");
  if (response.status === 401) await ensureOk(response, "log in");
  await response.body?.cancel();
  const path = await saveConfig({ url: parsed.href, key });
  if (p.json) printJson({ url: parsed.href, config: path });
  else note(`logged in to ${parsed.href}; config written to ${path}`);
}
