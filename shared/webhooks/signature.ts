/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, symmetric scheme): the sender signs
 * `{webhook-id}.{webhook-timestamp}.{body}` with HMAC-SHA256 under a `whsec_<base64>` secret and sends
 * `webhook-signature: v1,<base64 mac>` (space-separated when several secrets sign during a rotation).
 * Used both ways: outbound notifications are signed with an endpoint's secret, inbound trigger calls are verified
 * with the trigger's secret.
 */
const SECRET_PREFIX = "whsec_";
// The spec asks for 24..64 random bytes; 32 bytes = the HMAC-SHA256 block-size-friendly 256 bits.
const SECRET_BYTES = 32;
/** Receivers should refuse timestamps further than this from their clock (replay window); the spec's 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** Why an inbound signature was refused; the trigger route turns every case into a 401. */
export class WebhookSignatureError extends Error {
  override name = "WebhookSignatureError";
}

/** A fresh `whsec_…` secret: 32 random bytes, base64. */
export function generateSecret(): string {
  return SECRET_PREFIX + encodeBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** A message id for `webhook-id`: `msg_` + 128 random bits; never contains the '.' the signed content uses. */
export function generateMessageId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "msg_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The headers that sign `body` as message `id` sent at `timestamp`, one `v1` signature per secret. */
export async function signWebhook(
  message: { id: string; timestamp: Date; body: string },
  secrets: readonly string[],
): Promise<WebhookHeaders> {
  if (message.id.includes(".") || message.id.length === 0) {
    throw new Error(
      `Cannot sign a webhook as 'webhook-id' must be non-empty without '.': current value is ${message.id}`,
    );
  }
  if (secrets.length === 0) throw new Error("Cannot sign a webhook without a secret");
  const seconds = Math.floor(message.timestamp.getTime() / 1000);
  const content = new TextEncoder().encode(`${message.id}.${seconds}.${message.body}`);
  const signatures: string[] = [];
  for (const secret of secrets) {
    const key = await hmacKey(secret, ["sign"]);
    signatures.push("v1," + encodeBase64(new Uint8Array(await crypto.subtle.sign("HMAC", key, content))));
  }
  return {
    "webhook-id": message.id,
    "webhook-timestamp": String(seconds),
    "webhook-signature": signatures.join(" "),
  };
}

/**
 * Checks a received webhook: all three headers present, timestamp within `toleranceSeconds` of `now` (either
 * side), and at least one `v1` signature that matches under `secret` (compared in constant time by
 * `crypto.subtle.verify`). Returns the message id and timestamp; throws `WebhookSignatureError` otherwise.
 */
export async function verifyWebhook(
  request: { headers: Headers; body: string },
  secret: string,
  options: { now: Date; toleranceSeconds?: number },
): Promise<{ id: string; timestamp: Date }> {
  const id = request.headers.get("webhook-id");
  const timestampText = request.headers.get("webhook-timestamp");
  const signatureList = request.headers.get("webhook-signature");
  if (!id || !timestampText || !signatureList) {
    throw new WebhookSignatureError(
      "Cannot verify the webhook as 'webhook-id', 'webhook-timestamp' and 'webhook-signature' must all be present",
    );
  }
  if (!/^\d{1,12}$/.test(timestampText)) {
    throw new WebhookSignatureError(
      `Cannot verify the webhook as 'webhook-timestamp' must be integer Unix seconds: current value is ${
        timestampText.slice(0, 20)
      }`,
    );
  }
  const seconds = Number(timestampText);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.floor(options.now.getTime() / 1000) - seconds;
  if (Math.abs(skew) > tolerance) {
    throw new WebhookSignatureError(
      `Cannot verify the webhook as 'webhook-timestamp' must be within ${tolerance} s of the server clock: ` +
        `it is ${skew} s ${skew > 0 ? "old" : "in the future"}`,
    );
  }
  const key = await hmacKey(secret, ["verify"]);
  const content = new TextEncoder().encode(`${id}.${timestampText}.${request.body}`);
  for (const entry of signatureList.split(" ")) {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) continue;
    const mac = decodeBase64OrNull(value);
    if (mac && mac.length === 32 && await crypto.subtle.verify("HMAC", key, mac, content)) {
      return { id, timestamp: new Date(seconds * 1000) };
    }
  }
  throw new WebhookSignatureError("Cannot verify the webhook as no 'v1' signature matches the secret");
}

async function hmacKey(secret: string, usages: KeyUsage[]): Promise<CryptoKey> {
  const raw = decodeBase64OrNull(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
  );
  if (!raw || raw.length === 0) throw new Error("Cannot use a webhook secret as it must be non-empty base64");
  return await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, usages);
}

function encodeBase64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function decodeBase64OrNull(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
