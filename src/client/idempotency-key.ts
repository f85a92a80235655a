// Idempotency-Key values for the client's `idempotencyKey: true` (SPEC 11: 1–255 visible
// ASCII characters). One per logical call: every retry of the call sends the same one.

/** A new key: a random UUID (122 random bits), from crypto.randomUUID where the runtime has it. */
export function newIdempotencyKey(): string {
  // randomUUID exists only in secure contexts in browsers; getRandomValues everywhere.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b: number) => b.toString(16).padStart(2, "0")).join("");
}
