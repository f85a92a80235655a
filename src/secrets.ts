// Constant-time comparison of secrets (API key digests, the admin token). Workers only:
// crypto.subtle.timingSafeEqual is workerd's.

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** Equal-length digests compared without an early exit (workerd's timingSafeEqual). */
export function digestsEqual(a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * Compares a presented token with the configured one in constant time. Both are hashed
 * first so that neither the comparison nor its length check reveals the secret's length.
 */
export async function tokensEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(presented), sha256(expected)]);
  return digestsEqual(a, b);
}
