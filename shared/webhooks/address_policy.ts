/**
 * Which IP addresses a webhook may be sent to. Customer URLs are an SSRF risk: a URL that is or resolves to a
 * loopback, private, link-local (cloud metadata 169.254.169.254), CGNAT, multicast, documentation or otherwise
 * reserved address would let a customer reach the service's own network. Only globally routable unicast
 * addresses pass, unless the operator opts a host or CIDR in (`PROFS_WEBHOOK_ALLOWLIST`).
 */
import ipaddr from "ipaddr.js";
import { InputError } from "../errors.ts";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/** Operator opt-ins: exact host names (lower case, no trailing dot) and CIDR ranges. */
export interface Allowlist {
  hosts: ReadonlySet<string>;
  ranges: ReadonlyArray<[IpAddress, number]>;
}

export const EMPTY_ALLOWLIST: Allowlist = { hosts: new Set(), ranges: [] };

/**
 * Parses `PROFS_WEBHOOK_ALLOWLIST`: comma- or space-separated host names, IP addresses (a /32 or /128) and
 * CIDRs, e.g. `127.0.0.1/32,::1,hooks.internal`. A bad entry is an InputError naming it.
 */
export function parseAllowlist(text: string | undefined): Allowlist {
  const hosts = new Set<string>();
  const ranges: [IpAddress, number][] = [];
  for (const entry of (text ?? "").split(/[\s,]+/).filter((e) => e.length > 0)) {
    if (entry.includes("/")) {
      try {
        ranges.push(ipaddr.parseCIDR(entry));
      } catch {
        throw new InputError(
          `Cannot read PROFS_WEBHOOK_ALLOWLIST as each CIDR must be an IPv4 or IPv6 range: current value is ${entry}`,
        );
      }
    } else if (ipaddr.isValid(stripBrackets(entry))) {
      const address = ipaddr.parse(stripBrackets(entry));
      ranges.push([address, address.kind() === "ipv4" ? 32 : 128]);
    } else if (/^[a-z0-9.-]+$/i.test(entry)) {
      hosts.add(normalizeHost(entry));
    } else {
      throw new InputError(
        `Cannot read PROFS_WEBHOOK_ALLOWLIST as each entry must be a host name, an IP address or a CIDR: current value is ${entry}`,
      );
    }
  }
  return { hosts, ranges };
}

/** Host names compare case-insensitively and without the root dot (`Example.com.` = `example.com`). */
export function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/**
 * Whether `address` is a globally routable unicast address. IPv4 must be in ipaddr.js's `unicast` range (every
 * special-purpose block — unspecified, loopback, RFC 1918, CGNAT, link-local, multicast, broadcast,
 * documentation, benchmarking, 240/4, AS112, AMT — is a named range there). IPv6 must be global unicast
 * (2000::/3) outside special blocks (Teredo, 6to4, documentation, ORCHID…); IPv4-mapped (::ffff:a.b.c.d) and
 * NAT64 (64:ff9b::/96) addresses reach an IPv4 host, so they are judged by that embedded IPv4 address. The old
 * IPv4-compatible form (::a.b.c.d), which ipaddr.js calls `unicast`, falls outside 2000::/3 and is refused.
 */
export function isPublicAddress(address: IpAddress): boolean {
  if (address.kind() === "ipv4") return address.range() === "unicast";
  const v6 = address as ipaddr.IPv6;
  const range = v6.range();
  if (range === "ipv4Mapped") return isPublicAddress(v6.toIPv4Address());
  if (range === "rfc6052" && v6.match(NAT64_WELL_KNOWN)) return isPublicAddress(embeddedIpv4(v6));
  return range === "unicast" && v6.match(GLOBAL_UNICAST);
}

/** Whether the operator allowed `address` (or its embedded IPv4) through a CIDR in the allowlist. */
export function isAllowlistedAddress(address: IpAddress, allowlist: Allowlist): boolean {
  const forms: IpAddress[] = [address];
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    forms.push((address as ipaddr.IPv6).toIPv4Address());
  } else if (address.kind() === "ipv4") {
    forms.push((address as ipaddr.IPv4).toIPv4MappedAddress());
  }
  return forms.some((form) =>
    allowlist.ranges.some(([base, bits]) => base.kind() === form.kind() && form.match(base, bits))
  );
}

/** Parses an IP literal as it appears in a URL host (`[::1]` or `127.0.0.1`); null for a host name. */
export function parseIpLiteral(host: string): IpAddress | null {
  const bare = stripBrackets(host);
  // ipaddr.isValid also accepts "0x7f.1" or "2130706433"; WHATWG URL parsing has already rewritten those to
  // dotted quads in URL hosts, and accepting them here too keeps the guard independent of that.
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : null;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 {
  const bytes = address.toByteArray();
  return new ipaddr.IPv4(bytes.slice(12, 16));
}

const GLOBAL_UNICAST: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("2000::"), 3];
const NAT64_WELL_KNOWN: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse("64:ff9b::"), 96];
