// The pure parts of Idempotency-Key handling (SPEC 11): what a record decides for a request,
// what an answer is kept as, and a fingerprint whose framing no two requests share.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_IDEMPOTENCY_BOUNDS,
  IDEMPOTENCY_TTL_MS,
  IN_FLIGHT_REPORT_MS,
  MAX_IDEMPOTENT_BODY_BYTES,
  answerToKeep,
  decideClaim,
  type ClaimRecord,
  type KeptAnswer,
} from "../../src/account/idempotency.ts";
import { fingerprint } from "../../src/idempotency/request.ts";

const NOW = Date.UTC(2026, 11, 3, 12);
const response = (bytes: number): KeptAnswer => ({ kind: "response", status: 200, statusText: "OK", headers: [["Content-Type", "text/plain"]], body: new ArrayBuffer(bytes) });
const record = (answer: KeptAnswer | null, overrides: Partial<ClaimRecord> = {}): ClaimRecord => ({
  fingerprint: "f1",
  claimedAt: NOW - 1_000,
  expiresAt: NOW - 1_000 + IDEMPOTENCY_TTL_MS,
  answer,
  ...overrides,
});

describe("decideClaim", () => {
  it("a key without a live record is a first request", () => {
    expect(decideClaim(null, "f1", NOW)).toEqual({ kind: "first" });
    expect(decideClaim(record(response(3), { expiresAt: NOW }), "f1", NOW)).toEqual({ kind: "first" });
    expect(decideClaim(record(null, { expiresAt: NOW - 1 }), "other", NOW)).toEqual({ kind: "first" });
  });

  it("another fingerprint is a mismatch, whatever the record's state", () => {
    for (const answer of [null, response(3), { kind: "too_large" } as const, { kind: "envelope", code: "NOT_FOUND", message: "x" } as const]) {
      expect(decideClaim(record(answer), "f2", NOW)).toEqual({ kind: "refused", refusal: { reason: "mismatch" } });
    }
  });

  it("in flight until IN_FLIGHT_REPORT_MS after the claim, then unreported; never released", () => {
    expect(decideClaim(record(null, { claimedAt: NOW - IN_FLIGHT_REPORT_MS + 1 }), "f1", NOW)).toEqual({ kind: "refused", refusal: { reason: "in_flight" } });
    expect(decideClaim(record(null, { claimedAt: NOW - IN_FLIGHT_REPORT_MS }), "f1", NOW)).toEqual({ kind: "refused", refusal: { reason: "unreported" } });
  });

  it("an answer kept is replayed; one not kept is refused for what it was", () => {
    const kept = response(3);
    expect(decideClaim(record(kept), "f1", NOW)).toEqual({ kind: "replay", answer: kept });
    const envelope = { kind: "envelope", code: "CONFLICT", message: "taken" } as const;
    expect(decideClaim(record(envelope), "f1", NOW)).toEqual({ kind: "replay", answer: envelope });
    expect(decideClaim(record({ kind: "too_large" }), "f1", NOW)).toEqual({ kind: "refused", refusal: { reason: "too_large" } });
    expect(decideClaim(record({ kind: "not_kept" }), "f1", NOW)).toEqual({ kind: "refused", refusal: { reason: "not_kept" } });
  });
});

describe("answerToKeep", () => {
  it("keeps up to 1 MiB, within the account's bytes", () => {
    expect(answerToKeep(response(MAX_IDEMPOTENT_BODY_BYTES), 0, DEFAULT_IDEMPOTENCY_BOUNDS).kind).toBe("response");
    expect(answerToKeep(response(MAX_IDEMPOTENT_BODY_BYTES + 1), 0, DEFAULT_IDEMPOTENCY_BOUNDS)).toEqual({ kind: "too_large" });
    const bounds = { maxRecords: 10, maxKeptBytes: 100 };
    expect(answerToKeep(response(40), 60, bounds).kind).toBe("response");
    expect(answerToKeep(response(41), 60, bounds)).toEqual({ kind: "not_kept" });
    expect(answerToKeep({ kind: "envelope", code: "NOT_FOUND", message: "gone" }, 1_000, bounds).kind).toBe("envelope");
  });
});

describe("fingerprint", () => {
  const request = fc.record({
    method: fc.constantFrom("POST", "PUT", "PATCH", "DELETE"),
    // Small alphabets, so that parts often look like each other run together.
    path: fc.stringMatching(/^\/[a-b\/?=&]{0,6}$/),
    query: fc.stringMatching(/^(\?[a-b\/?=&]{0,6})?$/),
    body: fc.uint8Array({ maxLength: 8 }).map((bytes) => Array.from(bytes, (b) => b % 3)),
  });
  const digestOf = (r: { method: string; path: string; query: string; body: number[] }) => fingerprint(r.method, r.path, r.query, new Uint8Array(r.body).buffer);

  it("is the same for the same request and differs for any other (method, path, query, body)", async () => {
    await fc.assert(
      fc.asyncProperty(request, request, async (a, b) => {
        const same = a.method === b.method && a.path === b.path && a.query === b.query && a.body.join() === b.body.join();
        expect((await digestOf(a)) === (await digestOf(b))).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it("changes when bytes move from one part to the next", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), fc.nat(), async (path, query, body, cut) => {
        // The same characters, split between path, query and body in another place.
        const joined = `${path}${query}${body}`;
        const at = [cut % (joined.length + 1), (cut >> 3) % (joined.length + 1)].sort((x, y) => x - y);
        const moved = [joined.slice(0, at[0]), joined.slice(at[0], at[1]), joined.slice(at[1])] as const;
        const same = moved[0] === path && moved[1] === query && moved[2] === body;
        const digest = (p: string, q: string, b: string) => fingerprint("POST", p, q, new TextEncoder().encode(b).buffer as ArrayBuffer);
        expect((await digest(path, query, body)) === (await digest(...moved))).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it("does not let a part's bytes pass for the next part's", async () => {
    const body = new TextEncoder().encode("b").buffer as ArrayBuffer;
    const pairs = [
      [fingerprint("POST", "/a?x", "", new ArrayBuffer(0)), fingerprint("POST", "/a", "?x", new ArrayBuffer(0))],
      [fingerprint("POST", "/a", "?x", body), fingerprint("POST", "/a", "?xb", new ArrayBuffer(0))],
      [fingerprint("POST", "/a", "", body), fingerprint("POST", "/ab", "", new ArrayBuffer(0))],
    ];
    for (const [a, b] of pairs) expect(await a).not.toBe(await b);
    expect(await fingerprint("POST", "/a", "", body)).toMatch(/^[0-9a-f]{64}$/);
  });
});
