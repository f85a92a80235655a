// Base62 helpers shared by request ids and API keys.
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * `length` random base62 characters, each carrying log2(62) ≈ 5.95 bits. Bytes ≥ 248 are
 * redrawn so that every character is equally likely (248 = 4 × 62).
 */
export function randomBase62(length: number): string {
  let out = "";
  // getRandomValues fills at most 65,536 bytes per call.
  const bytes = new Uint8Array(Math.min(length * 2, 65_536));
  while (out.length < length) {
    crypto.getRandomValues(bytes);
    for (const byte of bytes) {
      if (byte >= 248) continue;
      out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A non-negative integer below 2^53 as exactly `width` base62 digits, zero-padded. */
export function encodeBase62(value: number, width: number): string {
  let out = "";
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

export const BASE62_CHARS = "0-9A-Za-z";
