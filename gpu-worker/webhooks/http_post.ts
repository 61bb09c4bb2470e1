/**
 * One HTTP/1.1 POST to an already-checked destination, written on a socket opened to the checked address.
 * `fetch` is not used on purpose: it would resolve the host name again (a DNS-rebinding window between check
 * and connect) and follows redirects by default. Here a 3xx is just a status; only the response's status line
 * and headers are read (a webhook response body is never stored), then the connection is closed.
 */
import type { Destination } from "../../shared/webhooks/destination.ts";

export interface PostResult {
  status: number;
  headers: Headers;
  /** From the start of the connection to the end of the response head. */
  durationMs: number;
}

/** The attempt produced no HTTP status: refused, reset, timed out, bad TLS or an unreadable response. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  constructor(message: string, readonly durationMs: number, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface PostOptions {
  timeoutMs: number;
  /** Extra trusted CA certificates (PEM) for https receivers with a private CA (tests, private deployments). */
  caCerts?: string[];
}

// A response head larger than this is not a webhook receiver worth waiting for.
const MAX_HEAD_BYTES = 16 * 1024;

export async function postToDestination(
  destination: Destination,
  request: { headers: Record<string, string>; body: string },
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const open: { conn: Deno.Conn | null; finished: boolean } = { conn: null, finished: false };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DeliveryError(`timed out after ${options.timeoutMs} ms`, elapsed()));
    }, options.timeoutMs);
  });
  const attempt = async (): Promise<PostResult> => {
    const conn = await connectToFirst(destination, options);
    // A connection that completes after the timeout fired is closed here, since nobody else holds it.
    if (open.finished) closeQuietly(conn);
    open.conn = conn;
    await writeAll(conn, encodeRequest(destination, request));
    const head = await readResponseHead(conn);
    return { ...head, durationMs: elapsed() };
  };
  try {
    return await Promise.race([attempt(), timeout]);
  } catch (error) {
    if (error instanceof DeliveryError) throw error;
    throw new DeliveryError((error as Error).message ?? String(error), elapsed(), { cause: error });
  } finally {
    open.finished = true;
    clearTimeout(timer);
    closeQuietly(open.conn);
  }
}

async function connectToFirst(destination: Destination, options: PostOptions): Promise<Deno.Conn> {
  const failures: string[] = [];
  for (const address of destination.addresses) {
    let tcp: Deno.TcpConn | null = null;
    try {
      tcp = await Deno.connect({ hostname: address, port: destination.port, transport: "tcp" });
      if (destination.url.protocol !== "https:") return tcp;
      return await Deno.startTls(tcp, { hostname: destination.host, caCerts: options.caCerts });
    } catch (error) {
      closeQuietly(tcp);
      failures.push(`${address}: ${(error as Error).message}`);
    }
  }
  throw new Error(`could not connect to ${destination.host}:${destination.port} (${failures.join("; ")})`);
}

function encodeRequest(
  destination: Destination,
  request: { headers: Record<string, string>; body: string },
): Uint8Array {
  const body = new TextEncoder().encode(request.body);
  const lines = [
    `POST ${destination.url.pathname}${destination.url.search} HTTP/1.1`,
    `Host: ${destination.url.host}`,
    "User-Agent: profs-webhooks/1",
    "Content-Type: application/json",
    `Content-Length: ${body.length}`,
    "Connection: close",
  ];
  for (const [name, value] of Object.entries(request.headers)) {
    // Values come from our own ids, timestamps and signatures; a line break would be header injection.
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${name} contains a line break`);
    lines.push(`${name}: ${value}`);
  }
  const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Reads status line + headers, skipping interim 1xx heads. */
async function readResponseHead(conn: Deno.Conn): Promise<{ status: number; headers: Headers }> {
  const decoder = new TextDecoder();
  let text = "";
  const chunk = new Uint8Array(4096);
  while (true) {
    let end = text.indexOf("\r\n\r\n");
    while (end >= 0) {
      const parsed = parseHead(text.slice(0, end));
      text = text.slice(end + 4);
      if (parsed.status >= 200) return parsed;
      end = text.indexOf("\r\n\r\n");
    }
    if (text.length > MAX_HEAD_BYTES) throw new Error(`response head exceeds ${MAX_HEAD_BYTES} bytes`);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("connection closed before a complete response head");
    text += decoder.decode(chunk.subarray(0, n), { stream: true });
  }
}

function parseHead(head: string): { status: number; headers: Headers } {
  const [statusLine, ...headerLines] = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP/1.x response: ${JSON.stringify(statusLine.slice(0, 60))}`);
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      // A malformed header line from the receiver does not change the status we record.
    }
  }
  return { status: Number(match[1]), headers };
}

function closeQuietly(conn: Deno.Conn | null): void {
  try {
    conn?.close();
  } catch {
    // Already closed (by the peer or by a TLS upgrade that consumed the TCP handle).
  }
}
