/**
 * The API key format, without I/O.
 *
 *   profs_<public id: 12 chars [a-z0-9]>_<secret: 43 chars base64url = 256 random bits>
 *
 * The prefix makes leaked keys recognisable to secret scanners; the public id finds the row without revealing
 * anything; only sha256(key) is stored. A fast hash is right here (keys carry 256 bits of entropy, nothing to
 * stretch), and the stored and presented hashes are compared in constant time.
 *
 * A bootstrap key (PROFS_BOOTSTRAP_KEY) may be any string of at least 32 characters; keys not in the format are
 * looked up by a public id derived from their hash (`lookupId`).
 */
import { timingSafeEqual } from "node:crypto";

export const KEY_PREFIX = "profs_";
const PUBLIC_ID_LENGTH = 12;
const KEY_PATTERN = /^profs_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const PUBLIC_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
export const MIN_BOOTSTRAP_KEY_LENGTH = 32;

export interface GeneratedKey {
  /** The whole key: shown to its owner once, never stored. */
  key: string;
  publicId: string;
  /** sha256(key), hex: what the database keeps. */
  secretHash: string;
}

export async function generateApiKey(): Promise<GeneratedKey> {
  const idBytes = crypto.getRandomValues(new Uint8Array(PUBLIC_ID_LENGTH));
  // byte % 36 is slightly biased; harmless for an id that is public by design.
  const publicId = Array.from(idBytes, (b) => PUBLIC_ID_ALPHABET[b % PUBLIC_ID_ALPHABET.length]).join("");
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const key = `${KEY_PREFIX}${publicId}_${secret}`;
  return { key, publicId, secretHash: await hashKey(key) };
}

/** The public id a presented key is looked up by: from the key itself, or derived for bootstrap-style keys. */
export async function lookupId(key: string): Promise<string> {
  const match = KEY_PATTERN.exec(key);
  if (match) return match[1];
  return `boot${(await hashKey(`lookup:${key}`)).slice(0, 12)}`;
}

export function isFormattedKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

export async function hashKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time equality of two hex digests (equal length by construction; unequal lengths are unequal). */
export function sameHash(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}
