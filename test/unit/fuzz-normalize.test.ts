// Fuzzing the normalization of origin answers (SPEC section 6): whatever status, body and
// Retry-After an origin sends, the client gets a code of the closed set with its one status,
// a message it can show (non-empty, ≤ 500 characters, one line, never the origin's HTML page
// or a stack trace, never any part of a 5xx body) and a Retry-After of whole seconds ≥ 1.
// normalizeUpstream sees no Content-Type: it tries JSON on every body, so the body arbitraries
// below cover what each content type would carry (JSON, problem+json, HTML, text, bytes).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, GENERIC_MESSAGE, isErrorCode, type ErrorSpec } from "../../src/envelope.ts";
import { normalizeUpstream } from "../../src/upstream/normalize.ts";

const NOW = Date.UTC(2026, 1, 1, 12, 0, 0);
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const HTML_PAGE = /<\s*(!doctype|html|head|body|title)\b/i;

/** Independent of the implementation: the frame lines of the stacks that servers commonly leak. */
const STACK_FRAME = [
  /\bat\s+(?:async\s+)?(?:\S+\s+)?\(?(?:file:\/\/)?[^\s()]*[/\\.][^\s()]*:\d+:\d+\)?/, // Node.js, named or anonymous frame
  /File "[^"]+", line \d+/, // Python
  /\bat\s+[\w$.<>]+\((?:[\w$.-]+\.(?:java|kt|scala):\d+|Native Method|Unknown Source)\)/, // JVM
  /goroutine \d+ \[/, // Go
  /\.rb:\d+:in\s/, // Ruby
  /#\d+\s+\S+\.php\(\d+\)/, // PHP
  /\bat\s+\S+\(.*\)\s+in\s+\S+:line\s+\d+/, // .NET
  /Traceback \(most recent call last\)/,
];

const word = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/);
const line = fc.integer({ min: 1, max: 99_999 });
const stackTrace = fc.oneof(
  fc.tuple(word, word, line, line).map(([e, f, l, c]) => `${e}Error: bad thing\n    at ${f} (/srv/app/${f}.js:${l}:${c})\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`),
  fc.tuple(word, line, line).map(([f, l, c]) => `Error: boom\n    at /srv/app/${f}.js:${l}:${c}\n    at async /srv/app/index.mjs:${c}:${l}`),
  fc.tuple(word, line).map(([f, l]) => `Traceback (most recent call last):\n  File "/app/${f}.py", line ${l}, in ${f}\nValueError: nope`),
  fc.tuple(word, line).map(([f, l]) => `  File "/app/${f}.py", line ${l}, in ${f}\n    raise ValueError()`),
  fc.tuple(word, line).map(([f, l]) => `java.lang.IllegalStateException: ${f}\n\tat com.example.${f}.handle(${f}.java:${l})\n\tat java.base/java.lang.Thread.run(Thread.java:833)`),
  fc.tuple(word, line).map(([f, l]) => `panic: runtime error\n\ngoroutine 1 [running]:\nmain.${f}()\n\t/app/main.go:${l} +0x1d`),
  fc.tuple(word, line).map(([f, l]) => `/app/lib/${f}.rb:${l}:in \`${f}': undefined method (NoMethodError)`),
  fc.tuple(word, line).map(([f, l]) => `#0 /var/www/${f}.php(${l}): ${f}()\n#1 {main}`),
  fc.tuple(word, line).map(([f, l]) => `System.Exception: ${f}\n   at App.${f}.Run() in C:\\src\\${f}.cs:line ${l}`),
);

const htmlPage = fc.tuple(fc.string({ maxLength: 40 }), fc.constantFrom(0, 1, 2, 3)).map(([text, form]) =>
  [
    `<!DOCTYPE html><html><head><title>${text}</title></head><body><h1>${text}</h1></body></html>`,
    `<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>`,
    `<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>${text}</p>`,
    `  <HTML><BODY>${text}</BODY></HTML>`,
  ][form]!,
);

const controlMix = fc
  .array(fc.oneof(fc.constantFrom("\u0000", "\n", "\r", "\t", "\u001b", "\u007f", "\u0085", "\u009f", "\u2028", "\u2029"), fc.string({ maxLength: 8 })), { maxLength: 12 })
  .map((parts) => parts.join(""));

/** The strings an origin may put where a message is expected. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.string({ unit: "grapheme", minLength: 400, maxLength: 700 }),
  fc.nat({ max: 100_000 }).map((n) => "x".repeat(n)),
  fc.constantFrom("", "   ", "\n\t", "😀".repeat(600), "expected <string>", "a\u0000b"),
  controlMix,
  stackTrace,
  htmlPage,
);

/** The common error shapes of SPEC 6, filled with nasty strings (and nasty non-strings). */
const errorShape = fc.oneof(
  nastyString.map((s) => ({ error: { message: s } })),
  nastyString.map((s) => ({ message: s })),
  nastyString.map((s) => ({ error: s })),
  fc.tuple(nastyString, nastyString).map(([detail, title]) => ({ type: "about:blank", title, detail, status: 422 })),
  fc.array(nastyString, { maxLength: 3 }).map((messages) => ({ errors: messages.map((message) => ({ message })) })),
  fc.record({ error: fc.anything(), message: fc.anything(), detail: fc.anything(), title: fc.anything(), errors: fc.anything() }, { requiredKeys: [] }),
  fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(ERROR_STATUS)), fc.string()), fc.oneof(nastyString, fc.anything()), fc.anything()).map(([code, message, retry]) => ({
    success: false,
    error: { code, message },
    meta: { request_id: "req_origin", retry_after: retry },
  })),
  fc.tuple(fc.constantFrom(...Object.keys(ERROR_STATUS)), nastyString, fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e300, Infinity, -1, 0.2, 2 ** 60))).map(([code, message, retry_after]) => ({
    success: false,
    error: { code, message },
    meta: { retry_after },
  })),
);

const body = fc.oneof(
  fc.constant(null), // unreadable
  nastyString,
  fc.json({ maxDepth: 3 }),
  errorShape.map((shape) => JSON.stringify(shape)),
  errorShape.map((shape) => JSON.stringify(shape).slice(0, -1)), // cut off mid-body
);

const retryAfter = fc.oneof(
  fc.constant(null),
  fc.nat().map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.integer({ min: -100_000, max: 100_000 }).map((n) => ` ${n} `),
  fc.date({ min: new Date(0), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toUTCString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("soon", "1.5", "0x10", "1e3", "Infinity", "Wed, 21 Oct 2015 07:28:00 GMT", "tomorrow 1", ""),
  fc.string({ maxLength: 30 }),
);

function check(spec: ErrorSpec, status: number, bodyText: string | null): void {
  const shown = `status ${status}, body ${JSON.stringify(bodyText)?.slice(0, 300)} → ${JSON.stringify(spec).slice(0, 300)}`;
  expect(isErrorCode(spec.code), shown).toBe(true);
  expect(Object.keys(spec).every((k) => ["code", "message", "retryAfterSeconds"].includes(k)), shown).toBe(true);

  // The status column of SPEC 6, decided independently of the implementation.
  if (status >= 500 || status === 401) expect(spec.code, shown).toBe("INTERNAL_ERROR");
  else expect(["UNAUTHORIZED", "INTERNAL_ERROR"], shown).not.toContain(spec.code);
  if (status === 429 && spec.code !== "RATE_LIMIT_EXCEEDED") expect(bodyText ?? "", shown).toContain("success");
  expect(ERROR_STATUS[spec.code] >= 400 && ERROR_STATUS[spec.code] <= 500, shown).toBe(true);

  const { message } = spec;
  expect(typeof message, shown).toBe("string");
  expect(message.trim(), shown).not.toBe("");
  expect(Array.from(message).length, shown).toBeLessThanOrEqual(500);
  expect(message, shown).not.toMatch(CONTROL);
  expect(message, shown).not.toMatch(HTML_PAGE);
  for (const frame of STACK_FRAME) expect(message, shown).not.toMatch(frame);
  if (status >= 500) expect(message, shown).toBe("The upstream service failed to handle the request.");

  // A 4xx message that is not one of the gateway's own sentences came out of the body: it is
  // the start of one of the body's strings, with the control characters removed.
  const own = new Set<string>(Object.values(GENERIC_MESSAGE));
  if (status < 500 && status !== 401 && !own.has(message) && !/^Rate limit exceeded\. Retry after \d+ seconds\.$/.test(message)) {
    const sources = stringsIn(parsed(bodyText)).map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ""));
    expect(sources.some((s) => s.startsWith(message)), shown).toBe(true);
  }

  if (spec.retryAfterSeconds !== undefined) {
    expect(Number.isSafeInteger(spec.retryAfterSeconds) && spec.retryAfterSeconds >= 1, shown).toBe(true);
    expect(spec.code === "RATE_LIMIT_EXCEEDED" || status === 503, shown).toBe(true);
  }
  if (spec.code === "RATE_LIMIT_EXCEEDED") expect(spec.retryAfterSeconds, shown).toBeDefined();
}

function parsed(text: string | null): unknown {
  try {
    return JSON.parse(text ?? "");
  } catch {
    return undefined;
  }
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (typeof value !== "object" || value === null) return [];
  return Object.values(value).flatMap(stringsIn);
}

describe("normalizeUpstream under fuzzing", () => {
  it("turns every origin error answer into a trustworthy ErrorSpec", () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), body, retryAfter, (status, text, retry) => {
        check(normalizeUpstream({ kind: "response", status, retryAfter: retry, body: text }, NOW), status, text);
      }),
      { numRuns: 2000 },
    );
  });

  it("never lets a message carry a stack trace or an HTML page, in any common error shape", () => {
    const leaky = fc.oneof(stackTrace, htmlPage, fc.tuple(fc.string({ maxLength: 20 }), stackTrace).map(([a, b]) => `${a}: ${b}`));
    const shapes = (s: string) => [{ error: { message: s } }, { message: s }, { error: s }, { detail: s }, { title: s }, { errors: [{ message: s }] }, { success: false, error: { code: "CONFLICT", message: s } }];
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 428 }), leaky, fc.nat({ max: 6 }), (status, text, which) => {
        const json = JSON.stringify(shapes(text)[which]);
        check(normalizeUpstream({ kind: "response", status, retryAfter: null, body: json }, NOW), status, json);
      }),
      { numRuns: 1000 },
    );
  });

  it("carries a 429's or 503's Retry-After over as whole seconds ≥ 1, whatever its form", () => {
    fc.assert(
      fc.property(fc.constantFrom(429, 503), retryAfter, body, (status, retry, text) => {
        const spec = normalizeUpstream({ kind: "response", status, retryAfter: retry, body: text }, NOW);
        check(spec, status, text);
        if (spec.code === "RATE_LIMIT_EXCEEDED") expect(spec.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        if (retry !== null && /^\s*\d+\s*$/.test(retry) && Number(retry) <= Number.MAX_SAFE_INTEGER && (status === 503 || spec.code === "RATE_LIMIT_EXCEEDED")) {
          expect(spec.retryAfterSeconds).toBe(Math.max(1, Number(retry)));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("keeps the cases this fuzzer found: stacks of other languages, <title> pages, a header-breaking retry_after", () => {
    const answer = (body: unknown, status = 400) => normalizeUpstream({ kind: "response", status, retryAfter: null, body: JSON.stringify(body) }, NOW);
    for (const leaked of [
      "Error: boom\n    at /srv/app/f.js:1:2",
      '  File "/app/f.py", line 3, in f',
      "java.lang.IllegalStateException: x\n\tat com.example.F.handle(F.java:12)",
      "panic: runtime error\n\ngoroutine 1 [running]:\nmain.f()\n\t/app/main.go:12 +0x1d",
      "/app/lib/f.rb:12:in `f': undefined method (NoMethodError)",
      "#0 /var/www/f.php(12): f()",
      "System.Exception: f\n   at App.F.Run() in C:\\src\\F.cs:line 12",
      "<title>400 Bad Request</title>\n<h1>Bad Request</h1>",
    ]) {
      expect(answer({ message: leaked }), leaked).toEqual({ code: "VALIDATION_ERROR", message: GENERIC_MESSAGE.VALIDATION_ERROR });
    }
    // Ordinary sentences with times and paths stay.
    expect(answer({ message: "The slot at 10:30:00 is taken" }, 409).message).toBe("The slot at 10:30:00 is taken");
    const envelope = { success: false, error: { code: "RATE_LIMIT_EXCEEDED", message: "slow down" }, meta: { retry_after: 1e300 } };
    expect(answer(envelope, 429)).toEqual({ code: "RATE_LIMIT_EXCEEDED", message: "slow down", retryAfterSeconds: 1 });
  });
});
