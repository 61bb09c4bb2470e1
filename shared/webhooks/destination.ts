/**
 * The SSRF guard for customer webhook URLs. `resolveDestination` is called when an endpoint is registered and
 * again before every send: DNS answers change (rebinding), so the registration check alone proves nothing. The
 * sender then connects to the addresses returned here, never re-resolving the name, so the address that was
 * checked is the address that is called.
 */
import { lookup } from "node:dns/promises";
import { InputError } from "../errors.ts";
import {
  type Allowlist,
  EMPTY_ALLOWLIST,
  isAllowlistedAddress,
  isPublicAddress,
  normalizeHost,
  parseIpLiteral,
} from "./address_policy.ts";

/** A URL the guard refused; an InputError because the customer chose it (422 at registration). */
export class UnsafeDestinationError extends InputError {
  override name = "UnsafeDestinationError";
}

/** Every address a host name resolves to (A and AAAA), as text. */
export type ResolveHost = (host: string) => Promise<string[]>;

export interface Destination {
  url: URL;
  /** Host as written in the URL (for the Host header and TLS server name), without IPv6 brackets. */
  host: string;
  port: number;
  /** Checked addresses to connect to, in resolver order. */
  addresses: string[];
}

export interface DestinationPolicy {
  allowlist?: Allowlist;
  resolve?: ResolveHost;
}

/** The system resolver (getaddrinfo, so /etc/hosts counts too), every address family. */
export const resolveWithSystem: ResolveHost = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Parses and checks `raw`: http or https only, no user name or password, and every address the host is or
 * resolves to must be public (see `isPublicAddress`) unless the allowlist names the host or covers the address.
 * One private address among several public ones refuses the whole host: the connection could land on it.
 */
export async function resolveDestination(raw: string, policy: DestinationPolicy = {}): Promise<Destination> {
  const allowlist = policy.allowlist ?? EMPTY_ALLOWLIST;
  const url = checkUrlSyntax(raw);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const literal = parseIpLiteral(host);
  let addresses: string[];
  if (literal) {
    addresses = [literal.toString()];
  } else {
    try {
      addresses = await (policy.resolve ?? resolveWithSystem)(host);
    } catch (error) {
      throw new UnsafeDestinationError(
        `Cannot send webhooks to '${host}' as its name must resolve: ${(error as Error).message}`,
      );
    }
    if (addresses.length === 0) {
      throw new UnsafeDestinationError(
        `Cannot send webhooks to '${host}' as its name must resolve to an address`,
      );
    }
  }
  const hostAllowed = allowlist.hosts.has(normalizeHost(host));
  for (const text of addresses) {
    const address = parseIpLiteral(text);
    if (!address) {
      throw new UnsafeDestinationError(
        `Cannot send webhooks to '${host}' as it resolved to a non-address '${text}'`,
      );
    }
    if (!hostAllowed && !isPublicAddress(address) && !isAllowlistedAddress(address, allowlist)) {
      throw new UnsafeDestinationError(
        `Cannot send webhooks to '${host}' as its address must be public: ${address.toString()} is ${
          describeRange(address)
        } (PROFS_WEBHOOK_ALLOWLIST can allow it)`,
      );
    }
  }
  return { url, host, port, addresses: addresses.map((a) => parseIpLiteral(a)!.toString()) };
}

/** The checks that need no DNS: scheme, credentials, a host. */
export function checkUrlSyntax(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeDestinationError(
      `Cannot use the webhook URL as 'url' must be an absolute http(s) URL: current value is ${
        raw.slice(0, 200)
      }`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UnsafeDestinationError(
      `Cannot use the webhook URL as its scheme must be http or https: current value is ${url.protocol}`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new UnsafeDestinationError(
      "Cannot use the webhook URL as it must not carry credentials (user:password@); verify the signature instead",
    );
  }
  if (url.hostname === "") {
    throw new UnsafeDestinationError("Cannot use the webhook URL as it must name a host");
  }
  return url;
}

function describeRange(address: ReturnType<typeof parseIpLiteral> & object): string {
  return `a ${address.range()} ${address.kind()} address`;
}
