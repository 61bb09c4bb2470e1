/**
 * `profs keys create|list|revoke`: over HTTP (/v1/keys) when a service is configured (PROFS_URL +
 * PROFS_API_KEY, or `profs login`), so a running `profs serve` needs no second process; straight on the
 * database (api/cli/keys.ts: DATABASE_URL or the embedded PGlite) with `--local` or when none is configured.
 */
import type { ApiKeyList, ApiKeyView, ApiKeyWithSecret } from "../../shared/contracts/keys.ts";
import { USAGE as LOCAL_USAGE } from "../../api/cli/keys.ts";
import { action, operands, parse, type Parsed, service, str } from "./common.ts";
import { findConfig } from "./config.ts";
import { note, printJson, table } from "./output.ts";

export const USAGE = `usage: profs keys <create|list|revoke> [options]

Over HTTP (when PROFS_URL + PROFS_API_KEY are set or \`profs login\` ran):
  profs keys create [--tenant NAME] [--scopes S1,S2] [--name LABEL]
        a key for the caller's tenant, or (a key with scope 'admin', e.g. PROFS_BOOTSTRAP_KEY) for NAME;
        prints the key once
  profs keys list [--tenant NAME]
  profs keys revoke PUBLIC_ID [--tenant NAME]
  every command: --json

On the database (--local, or no service configured):
${LOCAL_USAGE.replace(/^usage: .*\n\n/, "")}`;

export async function run(args: string[]): Promise<void> {
  if (args.includes("--local") || (!args.includes("--help") && !args.includes("-h") && !await findConfig())) {
    const local = await import("../../api/cli/keys.ts");
    return await local.run(args.filter((a) => a !== "--local"));
  }
  const p = parse(args, {
    tenant: { type: "string" },
    scopes: { type: "string" },
    name: { type: "string" },
  }, USAGE);
  if (!p) return;
  await runRemote(action("keys", p.positionals, ["create", "list", "revoke"], USAGE), p);
}

async function runRemote(act: string, p: Parsed): Promise<void> {
  const api = await service();
  const tenant = str(p.values.tenant);
  const query = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
  if (act === "create") {
    operands(p.positionals, [], "create a key");
    const scopes = str(p.values.scopes)?.split(",").map((s) => s.trim()).filter(Boolean);
    const created = await api.json<ApiKeyWithSecret>("/v1/keys", {
      method: "POST",
      data: {
        ...(tenant ? { tenant } : {}),
        ...(p.values.name ? { name: p.values.name } : {}),
        ...(scopes ? { scopes } : {}),
      },
    });
    if (p.json) return printJson(created);
    console.log(created.key);
    note(
      `created key ${created.id} for tenant '${created.tenant}' with scopes ${created.scopes.join(",")}; ` +
        "store it now: it is not shown again",
    );
  } else if (act === "list") {
    operands(p.positionals, [], "list keys");
    const list = await api.json<ApiKeyList>(`/v1/keys${query}`);
    if (p.json) return printJson(list);
    console.log(table(
      ["PUBLIC_ID", "NAME", "SCOPES", "CREATED", "LAST_USED", "REVOKED"],
      list.data.map((k) => [k.id, k.name, k.scopes.join(","), k.created_at, k.last_used_at, k.revoked_at]),
    ));
  } else {
    const [id] = operands(p.positionals, ["PUBLIC_ID"], "revoke a key");
    const revoked = await api.json<ApiKeyView>(`/v1/keys/${encodeURIComponent(id)}${query}`, {
      method: "DELETE",
    });
    if (p.json) return printJson(revoked);
    note(`revoked key ${revoked.id}`);
  }
}
