// API keys: mint, parse, checksum, hash (SPEC section 3). Pure except for randomness and
// hashing; parsing needs no I/O, so a malformed key is refused before any storage is touched.
//
//   tgk_acme_k7Qx2mZt0aVb9Lr3Xc8Yp1Wn5Qd6Ez0Hs4Ju2Kf7Tg3Mh1
//   └┬─┘└┬─┘ └───┬────┘└───────────┬────────────┘└──┬─┘
//  prefix account  key id (10)      secret (26)      CRC32 (6)
//
// The fixed `tgk_` prefix lets secret scanners find leaked keys; the account id routes the
// request to its Durable Object with no lookup; the key id finds the stored hash, which is
// then compared in constant time; the CRC32 (GitHub's token scheme) rejects typos and most
// forgeries at the edge. Randomness: 36 base62 characters ≈ 214 bits.
import { encodeBase62, randomBase62 } from "./base62.ts";
import { crc32 } from "./crc32.ts";

export const KEY_PREFIX = "tgk_";
const KEY_ID_CHARS = 10;
const SECRET_CHARS = 26;
const CHECKSUM_CHARS = 6;

/** Also the rule for account ids in admin paths and bodies (SPEC 7). */
export const ACCOUNT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const KEY_ID_PATTERN = /^[0-9A-Za-z]{10}$/;

const KEY_PATTERN = new RegExp(
  `^${KEY_PREFIX}([a-z0-9][a-z0-9-]{0,62})_([0-9A-Za-z]{${KEY_ID_CHARS}})[0-9A-Za-z]{${SECRET_CHARS}}([0-9A-Za-z]{${CHECKSUM_CHARS}})$`,
);

export interface ParsedKey {
  accountId: string;
  keyId: string;
  /** The whole key, to be hashed. */
  key: string;
}

/** null: not a Tollgate key (wrong shape or checksum). Decided without any I/O. */
export function parseKey(key: string): ParsedKey | null {
  const match = KEY_PATTERN.exec(key);
  if (match === null) return null;
  const [, accountId, keyId, checksum] = match as unknown as [string, string, string, string];
  if (checksumOf(key.slice(0, -CHECKSUM_CHARS)) !== checksum) return null;
  return { accountId, keyId, key };
}

export interface MintedKey extends ParsedKey {
  /** Enough to recognise the key in a list, never enough to use it. */
  prefix: string;
}

export function mintKey(accountId: string): MintedKey {
  const keyId = randomBase62(KEY_ID_CHARS);
  const body = `${KEY_PREFIX}${accountId}_${keyId}${randomBase62(SECRET_CHARS)}`;
  return { accountId, keyId, key: body + checksumOf(body), prefix: keyPrefix(accountId, keyId) };
}

export function keyPrefix(accountId: string, keyId: string): string {
  return `${KEY_PREFIX}${accountId}_${keyId}`;
}

/** SHA-256 of the whole key: what storage keeps instead of the key. */
export function hashKey(key: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
}

function checksumOf(body: string): string {
  return encodeBase62(crc32(new TextEncoder().encode(body)), CHECKSUM_CHARS);
}
