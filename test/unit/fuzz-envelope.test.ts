// Fuzzing the envelope builder (SPEC section 1): whatever ErrorSpec a handler builds, the
// client gets exactly {success:false, error:{code, message}, meta:{request_id, timestamp,
// [retry_after], [limit]}} with the code's one status, JSON's content type, the request id
// in header and body alike, and meta.retry_after present exactly when Retry-After is.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, errorResponse, type ErrorCode, type ErrorSpec, type LimitName } from "../../src/envelope.ts";

const codes = Object.keys(ERROR_STATUS) as ErrorCode[];

const spec: fc.Arbitrary<ErrorSpec> = fc.record(
  {
    code: fc.constantFrom(...codes),
    message: fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom('"}, "success": true, {"', "\u2028", "</script>")),
    retryAfterSeconds: fc.oneof(fc.integer({ min: 1, max: 10_000_000 }), fc.double({ min: 0, max: 1e7, noNaN: true })),
    limit: fc.constantFrom<LimitName>("minute", "day", "auth"),
    headers: fc.record(
      {
        "X-Credits-Remaining": fc.nat().map(String),
        "X-RateLimit-Remaining": fc.nat().map(String),
        RateLimit: fc.constant('"minute";r=0;t=30'),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ["code", "message"] },
);

const context = fc.record({
  requestId: fc.stringMatching(/^req_[0-9A-Za-z]{16,22}$/),
  now: fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59) }),
  method: fc.constantFrom("GET", "HEAD", "POST", "DELETE", "OPTIONS"),
});

describe("errorResponse under fuzzing", () => {
  it("always answers with exactly the SPEC section 1 envelope", async () => {
    await fc.assert(
      fc.asyncProperty(spec, context, async (input, ctx) => {
        const response = errorResponse(input, ctx);
        const shown = JSON.stringify({ input, ctx });
        expect(response.status, shown).toBe(ERROR_STATUS[input.code]);
        expect(response.headers.get("content-type"), shown).toBe("application/json; charset=utf-8");
        expect(response.headers.get("x-request-id"), shown).toBe(ctx.requestId);
        for (const [name, value] of Object.entries(input.headers ?? {})) expect(response.headers.get(name), shown).toBe(value);

        const retryAfter = response.headers.get("retry-after");
        if (input.retryAfterSeconds === undefined) expect(retryAfter, shown).toBeNull();
        else expect(retryAfter, shown).toMatch(/^[1-9]\d*$/);

        const text = await response.text();
        if (ctx.method === "HEAD") {
          expect(text, shown).toBe("");
          return;
        }
        const body = JSON.parse(text) as Record<string, any>;
        expect(Object.keys(body).sort(), shown).toEqual(["error", "meta", "success"]);
        expect(body.success, shown).toBe(false);
        expect(body.error, shown).toEqual({ code: input.code, message: input.message });
        expect(Object.keys(body.error), shown).toEqual(["code", "message"]);

        const expectedMeta = ["request_id", "timestamp"];
        if (retryAfter !== null) expectedMeta.push("retry_after");
        if (input.limit !== undefined && input.code === "RATE_LIMIT_EXCEEDED") expectedMeta.push("limit");
        expect(Object.keys(body.meta).sort(), shown).toEqual(expectedMeta.sort());
        expect(body.meta.request_id, shown).toBe(ctx.requestId);
        expect(body.meta.timestamp, shown).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
        expect(Date.parse(body.meta.timestamp), shown).toBe(Math.floor(ctx.now / 1000) * 1000);
        if (retryAfter !== null) {
          expect(body.meta.retry_after, shown).toBe(Number(retryAfter));
          expect(body.meta.retry_after, shown).toBeGreaterThanOrEqual(1);
          expect(body.meta.retry_after, shown).toBe(Math.max(1, Math.ceil(input.retryAfterSeconds!)));
        }
        if (expectedMeta.includes("limit")) expect(body.meta.limit, shown).toBe(input.limit);
      }),
      { numRuns: 1000 },
    );
  });
});
