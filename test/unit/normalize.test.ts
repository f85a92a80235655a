// SPEC section 6's normalization table, row by row, on the pure function.
import { describe, expect, it } from "vitest";
import { cleanMessage, normalizeUpstream, parseRetryAfter } from "../../src/upstream/normalize.ts";

const NOW = Date.UTC(2026, 1, 1, 12, 0, 0);
const answer = (status: number, body: unknown = "", retryAfter: string | null = null) =>
  normalizeUpstream({ kind: "response", status, retryAfter, body: typeof body === "string" ? body : JSON.stringify(body) }, NOW);

describe("origin 4xx", () => {
  it.each([
    [400, "VALIDATION_ERROR"],
    [413, "VALIDATION_ERROR"],
    [414, "VALIDATION_ERROR"],
    [422, "VALIDATION_ERROR"],
    [418, "VALIDATION_ERROR"],
    [402, "INSUFFICIENT_CREDITS"],
    [403, "FORBIDDEN"],
    [404, "NOT_FOUND"],
    [405, "NOT_FOUND"],
    [410, "NOT_FOUND"],
    [409, "CONFLICT"],
    [412, "PRECONDITION_FAILED"],
    [428, "PRECONDITION_FAILED"],
  ])("%i becomes %s with the extracted message", (status, code) => {
    expect(answer(status, { message: "from the origin" })).toEqual({ code, message: "from the origin" });
  });

  it.each([
    ["error.message", { error: { message: "nested" }, message: "top" }, "nested"],
    ["message", { message: "top", error: "str" }, "top"],
    ["error as a string", { error: "plain string", detail: "d" }, "plain string"],
    ["RFC 9457 detail before title", { title: "Out of range", detail: "quantity must be at most 10" }, "quantity must be at most 10"],
    ["RFC 9457 title", { title: "Out of range" }, "Out of range"],
    ["errors[0].message", { errors: [{ message: "first" }, { message: "second" }] }, "first"],
    ["the first non-empty candidate", { error: { message: "" }, message: "   ", detail: "used" }, "used"],
  ])("extracts %s", (_shape, body, message) => {
    expect(answer(400, body).message).toBe(message);
  });

  it("falls back to a generic sentence for the code when nothing can be extracted", () => {
    expect(answer(404, "<html><body>Not Found</body></html>")).toEqual({ code: "NOT_FOUND", message: "The requested resource was not found." });
    expect(answer(400, { code: 17 })).toEqual({ code: "VALIDATION_ERROR", message: "The request is invalid." });
    expect(answer(409, "")).toMatchObject({ code: "CONFLICT" });
  });

  it("cuts messages to 500 characters and removes control characters", () => {
    expect(answer(400, { message: "x".repeat(900) }).message).toBe("x".repeat(500));
    expect(answer(400, { message: "bad\u0000 in\u001bput\u007f\n" }).message).toBe("bad input");
  });

  it("never passes an origin's page or stack trace through", () => {
    expect(answer(400, { message: "<!DOCTYPE html><html><body>oops</body></html>" }).message).toBe("The request is invalid.");
    expect(answer(400, { message: "TypeError: x is undefined\n    at handler (/srv/app.js:10:5)" }).message).toBe("The request is invalid.");
    expect(answer(400, { message: "expected <string> for field name" }).message).toBe("expected <string> for field name");
  });

  it("passes an origin's own envelope through with its code and message", () => {
    const envelope = (code: string, message = "theirs") => ({ success: false, error: { code, message }, meta: { request_id: "req_theirs" } });
    expect(answer(400, envelope("CONFLICT"))).toEqual({ code: "CONFLICT", message: "theirs" });
    expect(answer(422, envelope("NOT_FOUND"))).toEqual({ code: "NOT_FOUND", message: "theirs" });
    expect(answer(403, envelope("INSUFFICIENT_CREDITS", "top up"))).toEqual({ code: "INSUFFICIENT_CREDITS", message: "top up" });
    expect(answer(429, envelope("RATE_LIMIT_EXCEEDED", "slow down"), "12")).toEqual({ code: "RATE_LIMIT_EXCEEDED", message: "slow down", retryAfterSeconds: 12 });
    expect(answer(429, envelope("RATE_LIMIT_EXCEEDED", "slow down"))).toMatchObject({ retryAfterSeconds: 1 });
    // SPEC 6: "Retry-After as the 429 row": the header, else 1 s — the origin's meta.retry_after is not a header.
    const withMeta = JSON.stringify({ success: false, error: { code: "RATE_LIMIT_EXCEEDED", message: "slow down" }, meta: { retry_after: 45 } });
    expect(answer(429, withMeta)).toEqual({ code: "RATE_LIMIT_EXCEEDED", message: "slow down", retryAfterSeconds: 1 });
    expect(answer(429, withMeta, "7")).toMatchObject({ retryAfterSeconds: 7 });
  });

  it("does not let an origin claim UNAUTHORIZED or INTERNAL_ERROR, nor an unknown code", () => {
    const envelope = (code: string) => ({ success: false, error: { code, message: "theirs" } });
    expect(answer(403, envelope("UNAUTHORIZED"))).toEqual({ code: "FORBIDDEN", message: "theirs" });
    expect(answer(400, envelope("INTERNAL_ERROR"))).toEqual({ code: "VALIDATION_ERROR", message: "theirs" });
    expect(answer(404, envelope("TEAPOT"))).toEqual({ code: "NOT_FOUND", message: "theirs" });
  });

  it("401 is the gateway's problem, not the client's key", () => {
    expect(answer(401, { message: "bad token" })).toEqual({
      code: "INTERNAL_ERROR",
      message: "The upstream service refused the gateway's credentials; the API key is not at fault.",
    });
  });

  it("429 carries Retry-After over: seconds, HTTP date, or 1 s when absent", () => {
    expect(answer(429, "", "45")).toEqual({ code: "RATE_LIMIT_EXCEEDED", message: "Rate limit exceeded. Retry after 45 seconds.", retryAfterSeconds: 45 });
    expect(answer(429, "", new Date(NOW + 90_500).toUTCString())).toMatchObject({ retryAfterSeconds: 90 });
    expect(answer(429, "")).toMatchObject({ retryAfterSeconds: 1, message: "Rate limit exceeded. Retry after 1 seconds." });
    expect(answer(429, "", "soon")).toMatchObject({ retryAfterSeconds: 1 });
  });
});

describe("origin 5xx and failures", () => {
  it.each([500, 501, 502, 504, 599])("%i is a generic INTERNAL_ERROR that never shows the body", (status) => {
    const spec = answer(status, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "30");
    expect(spec).toEqual({ code: "INTERNAL_ERROR", message: "The upstream service failed to handle the request." });
  });

  it("a 503 keeps its Retry-After", () => {
    expect(answer(503, "down", "30")).toEqual({ code: "INTERNAL_ERROR", message: "The upstream service failed to handle the request.", retryAfterSeconds: 30 });
  });

  it("timeouts and unreachable origins", () => {
    expect(normalizeUpstream({ kind: "timeout" }, NOW)).toEqual({ code: "INTERNAL_ERROR", message: "The upstream service did not respond in time." });
    expect(normalizeUpstream({ kind: "unreachable" }, NOW)).toEqual({ code: "INTERNAL_ERROR", message: "The upstream service could not be reached." });
  });

  it("an unreadable 4xx body falls back to the generic sentence", () => {
    expect(normalizeUpstream({ kind: "response", status: 404, retryAfter: null, body: null }, NOW)).toEqual({ code: "NOT_FOUND", message: "The requested resource was not found." });
  });
});

describe("helpers", () => {
  it("parseRetryAfter", () => {
    expect(parseRetryAfter("0", NOW)).toBe(1);
    expect(parseRetryAfter(" 7 ", NOW)).toBe(7);
    expect(parseRetryAfter("-3", NOW)).toBeUndefined();
    expect(parseRetryAfter("1.5", NOW)).toBeUndefined();
    expect(parseRetryAfter(new Date(NOW - 60_000).toUTCString(), NOW)).toBe(1);
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
  });

  it("cleanMessage keeps surrogate pairs whole", () => {
    const emoji = "😀".repeat(600);
    expect(Array.from(cleanMessage(emoji)!)).toHaveLength(500);
    expect(cleanMessage(42)).toBeNull();
  });
});
