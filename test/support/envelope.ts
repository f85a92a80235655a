// The whole of SPEC section 1, asserted on one response: status, Content-Type, the exact
// shape of the body, the request id twice, the timestamp, and Retry-After in both places.
import { expect } from "vitest";
import type { ReceivedRequest } from "./origin.ts";
import type { Reply } from "./http.ts";

export const REQUEST_ID = /^req_[0-9A-Za-z]{16,}$/;
export const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
export const JSON_UTF8 = "application/json; charset=utf-8";

export interface ExpectedEnvelope {
  status: number;
  code: string;
  /** Exact text, or a pattern; always checked to be a safe, non-empty sentence. */
  message?: string | RegExp;
  /** Seconds, or an inclusive range for HTTP dates; omitted means no Retry-After at all. */
  retryAfter?: number | readonly [number, number];
  /** meta.limit, only on a 429 the gateway decided itself. */
  limit?: string;
  /** A HEAD answer: the headers say it all, the body is empty. */
  head?: boolean;
}

export interface Envelope {
  success: false;
  error: { code: string; message: string };
  meta: { request_id: string; timestamp: string; retry_after?: number; limit?: string };
}

/** Asserts the envelope and returns its body (or a body rebuilt from the headers for HEAD). */
export function expectEnvelope(reply: Reply, expected: ExpectedEnvelope): Envelope {
  const context = `${reply.status} ${reply.text.slice(0, 400)}`;
  expect(reply.status, context).toBe(expected.status);
  expect(reply.headers.get("content-type"), context).toBe(JSON_UTF8);
  const requestId = reply.headers.get("x-request-id");
  expect(requestId, context).toMatch(REQUEST_ID);

  const retryHeader = reply.headers.get("retry-after");
  if (expected.retryAfter === undefined) {
    expect(retryHeader, context).toBeNull();
  } else {
    expect(retryHeader, context).toMatch(/^\d+$/);
    expectSeconds(Number(retryHeader), expected.retryAfter, context);
  }

  if (expected.head === true) {
    expect(reply.body.byteLength, context).toBe(0);
    return {
      success: false,
      error: { code: expected.code, message: "" },
      meta: { request_id: requestId ?? "", timestamp: "" },
    };
  }

  const body = JSON.parse(reply.text) as Envelope;
  expect(Object.keys(body).sort(), context).toEqual(["error", "meta", "success"]);
  expect(body.success, context).toBe(false);
  expect(Object.keys(body.error).sort(), context).toEqual(["code", "message"]);
  expect(body.error.code, context).toBe(expected.code);
  expectSafeMessage(body.error.message);
  if (typeof expected.message === "string") expect(body.error.message, context).toBe(expected.message);
  else if (expected.message !== undefined) expect(body.error.message, context).toMatch(expected.message);

  const metaKeys = ["request_id", "timestamp"];
  if (expected.retryAfter !== undefined) metaKeys.push("retry_after");
  if (expected.limit !== undefined) metaKeys.push("limit");
  expect(Object.keys(body.meta).sort(), context).toEqual(metaKeys.sort());
  expect(body.meta.request_id, context).toBe(requestId);
  expect(body.meta.timestamp, context).toMatch(TIMESTAMP);
  if (expected.retryAfter !== undefined) expect(body.meta.retry_after, context).toBe(Number(retryHeader));
  if (expected.limit !== undefined) expect(body.meta.limit, context).toBe(expected.limit);
  return body;
}

function expectSeconds(actual: number, expected: number | readonly [number, number], context: string): void {
  expect(Number.isInteger(actual) && actual >= 1, context).toBe(true);
  if (typeof expected === "number") {
    expect(actual, context).toBe(expected);
  } else {
    expect(actual, context).toBeGreaterThanOrEqual(expected[0]);
    expect(actual, context).toBeLessThanOrEqual(expected[1]);
  }
}

/** SPEC 1: a non-empty, human-readable sentence; never HTML, a stack trace or a control character. */
export function expectSafeMessage(message: unknown): void {
  expect(typeof message).toBe("string");
  const text = message as string;
  expect(text.trim()).not.toBe("");
  expect(Array.from(text).length).toBeLessThanOrEqual(500);
  expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  expect(text).not.toMatch(/<\s*(!doctype|html|head|body|script|title|center|hr)\b/i);
  expect(text).not.toMatch(/\bat\s+\S+\s+\(?[^()\s]+:\d+:\d+\)?/);
}

/**
 * What the origin received for the response that carries `reply`'s request id: exactly one
 * request, or up to `deliveries` of them where the runtime itself may resend (workerd's
 * fetch repeats a GET, HEAD or DELETE once when a reused connection is reset under it).
 */
export function receivedFor(received: readonly ReceivedRequest[], reply: Reply, deliveries = 1): ReceivedRequest {
  const id = reply.headers.get("x-request-id");
  const matches = received.filter((r) => r.headers["x-request-id"] === id);
  expect(matches.length, `origin requests with X-Request-Id ${id}`).toBeGreaterThanOrEqual(1);
  expect(matches.length, `origin requests with X-Request-Id ${id}`).toBeLessThanOrEqual(deliveries);
  return matches[0]!;
}

/**
 * Waits until the gateway's output holds `text` and returns the output. The log reaches us
 * through workerd, wrangler and a pipe, each its own process: on a busy machine that takes a
 * while, so the wait gives up only after half of the e2e project's test timeout (the caller's
 * assertion then shows what did arrive).
 */
export async function waitForLog(output: () => string, text: string, giveUpAfterMs = 30_000): Promise<string> {
  const deadline = Date.now() + giveUpAfterMs;
  while (!output().includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return output();
}

/** The gateway's JSON log line for a request id, parsed. */
export function logLineFor(output: string, requestId: string): Record<string, unknown> | undefined {
  for (const line of output.split("\n")) {
    const start = line.indexOf("{");
    if (start < 0 || !line.includes(requestId)) continue;
    try {
      const parsed = JSON.parse(line.slice(start)) as Record<string, unknown>;
      if (parsed.request_id === requestId) return parsed;
    } catch {
      // not a log line
    }
  }
  return undefined;
}
