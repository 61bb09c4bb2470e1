import assert from "node:assert/strict";
import { InputError } from "../../shared/errors.ts";
import { isPublicAddress, parseAllowlist, parseIpLiteral } from "../../shared/webhooks/address_policy.ts";
import {
  resolveDestination,
  type ResolveHost,
  UnsafeDestinationError,
} from "../../shared/webhooks/destination.ts";

/** A resolver that answers from a table, so tests control DNS (and rebinding) without a network. */
function fakeDns(table: Record<string, string[]>): ResolveHost {
  return (host) => {
    const answer = table[host.replace(/\.$/, "")];
    return answer ? Promise.resolve(answer) : Promise.reject(new Error(`ENOTFOUND ${host}`));
  };
}

const NO_DNS = fakeDns({});

// Every form a non-public IPv4 or IPv6 destination can take in a URL; each must be refused.
const REFUSED_URLS = [
  // loopback, in the spellings WHATWG URL parsing and inet_aton accept
  "http://127.0.0.1/",
  "http://127.1/",
  "http://127.0.1/",
  "http://2130706433/",
  "http://0x7f000001/",
  "http://0x7f.1/",
  "http://0x7f.0x0.0x0.0x1/",
  "http://017700000001/",
  "http://0177.0.0.1/",
  "http://127.255.255.254:8080/x",
  "http://[::1]/",
  "http://[0:0:0:0:0:0:0:1]/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::ffff:7f00:1]/",
  "http://[0:0:0:0:0:ffff:127.0.0.1]/",
  "http://[::127.0.0.1]/", // deprecated IPv4-compatible form
  "http://[64:ff9b::127.0.0.1]/", // NAT64 of loopback
  // unspecified ("this host")
  "http://0.0.0.0/",
  "http://0/",
  "http://[::]/",
  // RFC 1918 private
  "http://10.0.0.1/",
  "http://10.255.255.255/",
  "http://172.16.0.1/",
  "http://172.31.255.255/",
  "http://192.168.1.1/",
  "http://3232235777/", // 192.168.1.1 as one number
  "http://[::ffff:10.0.0.1]/",
  "http://[::ffff:192.168.0.1]/",
  // link-local and cloud metadata
  "http://169.254.169.254/latest/meta-data/",
  "http://0xa9fea9fe/",
  "http://[::ffff:169.254.169.254]/",
  "http://[fe80::1]/",
  "http://[fd00:ec2::254]/", // AWS IPv6 metadata (unique local)
  "http://100.100.100.200/", // Alibaba metadata (CGNAT)
  // CGNAT, multicast, broadcast, reserved, documentation, benchmarking
  "http://100.64.0.1/",
  "http://100.127.255.254/",
  "http://224.0.0.1/",
  "http://239.255.255.250/",
  "http://255.255.255.255/",
  "http://240.0.0.1/",
  "http://192.0.0.8/",
  "http://192.0.2.10/",
  "http://198.18.0.1/",
  "http://198.51.100.7/",
  "http://203.0.113.9/",
  "http://192.88.99.1/",
  // IPv6 special blocks
  "http://[fc00::1]/",
  "http://[fec0::1]/",
  "http://[ff02::1]/",
  "http://[2001:db8::1]/",
  "http://[2001::1]/", // Teredo
  "http://[2002:7f00:1::]/", // 6to4 of loopback
  "http://[100::1]/", // discard
];

for (const url of REFUSED_URLS) {
  Deno.test(`resolveDestination refuses ${url}`, async () => {
    await assert.rejects(resolveDestination(url, { resolve: NO_DNS }), UnsafeDestinationError);
  });
}

Deno.test("resolveDestination accepts public IPv4, public IPv6 and their mapped/NAT64 forms", async () => {
  for (
    const [url, address] of [
      ["http://8.8.8.8/hook", "8.8.8.8"],
      ["https://1.1.1.1:8443/", "1.1.1.1"],
      ["http://134744072/", "8.8.8.8"],
      ["http://[2606:4700:4700::1111]/", "2606:4700:4700::1111"],
      ["http://[::ffff:8.8.8.8]/", "::ffff:808:808"],
      ["http://[64:ff9b::8.8.8.8]/", "64:ff9b::808:808"],
    ]
  ) {
    const destination = await resolveDestination(url, { resolve: NO_DNS });
    assert.deepEqual(destination.addresses, [address], url);
  }
});

Deno.test("resolveDestination refuses schemes other than http and https", async () => {
  for (
    const url of [
      "ftp://8.8.8.8/",
      "file:///etc/passwd",
      "gopher://8.8.8.8:70/",
      "ws://8.8.8.8/",
      "data:text/plain,hi",
      "javascript:alert(1)",
    ]
  ) {
    await assert.rejects(resolveDestination(url, { resolve: NO_DNS }), /scheme must be http or https/, url);
  }
});

Deno.test("resolveDestination refuses URLs with a user name or password", async () => {
  for (const url of ["http://user:pw@8.8.8.8/", "http://user@8.8.8.8/", "https://:secret@example.com/"]) {
    await assert.rejects(resolveDestination(url, { resolve: NO_DNS }), /credentials/, url);
  }
});

Deno.test("resolveDestination refuses text that is not an absolute URL", async () => {
  for (const url of ["", "example.com/hook", "/v1/hook", "http://"]) {
    await assert.rejects(resolveDestination(url, { resolve: NO_DNS }), UnsafeDestinationError, url);
  }
});

Deno.test("a host name that resolves to a private address is refused; a public one passes", async () => {
  const resolve = fakeDns({
    "evil.example": ["127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "v6.example": ["::1"],
    "mapped.example": ["::ffff:10.1.2.3"],
    "good.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
  });
  for (const host of ["evil.example", "metadata.example", "v6.example", "mapped.example"]) {
    await assert.rejects(
      resolveDestination(`https://${host}/hook`, { resolve }),
      /address must be public/,
      host,
    );
  }
  const good = await resolveDestination("https://good.example/hook?x=1", { resolve });
  assert.deepEqual(good.addresses, ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]);
  assert.equal(good.port, 443);
  assert.equal(good.host, "good.example");
});

Deno.test("one private address among public ones refuses the host (the connection could land there)", async () => {
  const resolve = fakeDns({ "mixed.example": ["93.184.215.14", "10.0.0.5"] });
  await assert.rejects(resolveDestination("http://mixed.example/", { resolve }), /10\.0\.0\.5/);
});

Deno.test("a name that does not resolve is refused with the resolver's reason", async () => {
  await assert.rejects(resolveDestination("http://nowhere.example/", { resolve: NO_DNS }), /must resolve/);
  await assert.rejects(
    resolveDestination("http://empty.example/", { resolve: fakeDns({ "empty.example": [] }) }),
    /must resolve/,
  );
});

Deno.test("the check runs again on every call, so a rebound DNS answer is refused at send time", async () => {
  const table: Record<string, string[]> = { "rebind.example": ["93.184.215.14"] };
  const resolve = fakeDns(table);
  await resolveDestination("http://rebind.example/", { resolve });
  table["rebind.example"] = ["127.0.0.1"];
  await assert.rejects(resolveDestination("http://rebind.example/", { resolve }), /loopback/);
});

Deno.test("PROFS_WEBHOOK_ALLOWLIST opts CIDRs, single addresses and host names in", async () => {
  const allowlist = parseAllowlist("127.0.0.0/8, ::1 internal.example,10.1.0.0/16");
  const resolve = fakeDns({ "internal.example": ["192.168.5.5"], "other.example": ["192.168.5.5"] });
  const policy = { allowlist, resolve };
  assert.deepEqual((await resolveDestination("http://127.0.0.1:9/", policy)).addresses, ["127.0.0.1"]);
  assert.deepEqual((await resolveDestination("http://[::ffff:127.0.0.1]/", policy)).addresses, [
    "::ffff:7f00:1",
  ]);
  assert.deepEqual((await resolveDestination("http://[::1]/", policy)).addresses, ["::1"]);
  assert.deepEqual((await resolveDestination("http://10.1.2.3/", policy)).addresses, ["10.1.2.3"]);
  assert.deepEqual((await resolveDestination("http://INTERNAL.example./", policy)).addresses, [
    "192.168.5.5",
  ]);
  await assert.rejects(resolveDestination("http://10.2.0.1/", policy), /private/);
  await assert.rejects(resolveDestination("http://other.example/", policy), /private/);
  await assert.rejects(resolveDestination("http://169.254.169.254/", policy), /linkLocal/);
});

Deno.test("parseAllowlist rejects entries that are neither host, address nor CIDR", () => {
  assert.throws(() => parseAllowlist("10.0.0.0/33"), InputError);
  assert.throws(() => parseAllowlist("http://x/"), InputError);
  assert.deepEqual(parseAllowlist(undefined), { hosts: new Set(), ranges: [] });
  assert.deepEqual(parseAllowlist(" , "), { hosts: new Set(), ranges: [] });
});

Deno.test("isPublicAddress judges numeric forms the same as dotted ones", () => {
  for (
    const [text, expected] of [["2130706433", false], ["0x7f.1", false], ["0x08080808", true], [
      "8.8.8.8",
      true,
    ]]
  ) {
    assert.equal(isPublicAddress(parseIpLiteral(text as string)!), expected, text as string);
  }
});
