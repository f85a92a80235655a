// The canonical path (SPEC 10, src/paths.ts): properties over generated spellings, then the
// edges one by one. The end-to-end proof that no spelling walks around a scope is
// test/e2e/paths-differential.test.ts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MALFORMED_PATH, MAX_PATH_CHARS, PATH_TOO_LONG, canonicalPath } from "../../src/paths.ts";

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
/** Reserved characters that may stand raw in a canonical path (`;` and `/` have rules of their own). */
const RESERVED_RAW = "!$&'()*+,=:@";
/** Escapes of reserved characters, kept as escapes: decoding them would change the path's meaning. */
const RESERVED_ESCAPES = ["%21", "%23", "%24", "%26", "%27", "%28", "%29", "%2A", "%2B", "%2C", "%3A", "%3B", "%3D", "%3F", "%40", "%5B", "%5D"];

const hexCase = (escape: string, lower: boolean) => (lower ? escape.toLowerCase() : escape.toUpperCase());
const escapeOf = (char: string) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;

/** A segment that is no dot segment, in canonical spelling. */
const plainSegment = fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,7}$/);
const basePath = fc.tuple(fc.array(plainSegment, { minLength: 0, maxLength: 5 }), fc.boolean()).map(([segments, trailing]) => (segments.length === 0 ? "/" : `/${segments.join("/")}${trailing ? "/" : ""}`));

/** Another spelling of a segment: each character maybe %-encoded, in either hex case. */
const respell = (segment: string) =>
  fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: segment.length, maxLength: segment.length }).map((choices) =>
    [...segment].map((char, i) => (choices[i]![0] ? hexCase(escapeOf(char), choices[i]![1]) : char)).join(""),
  );

/** Separators that mean one `/`: runs of slashes, `\`, and dot segments plain or encoded. */
const separator = fc.constantFrom("/", "//", "///", "\\", "/./", "/%2e/", "/%2E/", "/zz/../", "/zz/%2e%2e/", "/zz/.%2E/", "/zz/%2E./", "//./");

/** A base path and a different spelling of it that SPEC 10 steps 1–2 must bring back. */
const spelledPath = basePath.chain((base) => {
  const segments = base === "/" ? [] : base.slice(1).replace(/\/$/, "").split("/");
  const trailing = base.length > 1 && base.endsWith("/");
  return fc
    .tuple(fc.tuple(...segments.map(respell)), fc.array(separator, { minLength: segments.length + 1, maxLength: segments.length + 1 }), fc.constantFrom("/", "//", "/.", "/%2e", "/./"))
    .map(([spelled, separators, directory]) => {
      if (spelled.length === 0) return { base, spelling: separators[0]! };
      const path = spelled.map((segment, i) => `${separators[i]}${segment}`).join("");
      return { base, spelling: trailing ? `${path}${directory}` : path };
    });
});

/** Any string at all, and strings built from the characters that matter here. */
const hostile = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.webPath(),
  fc
    .array(
      fc.oneof(
        fc.constantFrom("/", "//", "\\", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "%25", "%00", "%1f", "%7f", "%7F", ";", "%3b", "%", "%z", "%zz", "%4", "é", "😀", "\u0000", " ", "?", "#"),
        fc.constantFrom(...UNRESERVED, ...RESERVED_RAW),
        fc.stringMatching(/^%[0-9A-Fa-f]{2}$/),
      ),
      { maxLength: 24 },
    )
    .map((parts) => `/${parts.join("")}`),
);

describe("canonicalPath: properties", () => {
  it("answers every string with a canonical path or a refusal, never throwing", () => {
    fc.assert(
      fc.property(hostile, (raw) => {
        const result = canonicalPath(raw);
        if (!result.ok) expect([MALFORMED_PATH, PATH_TOO_LONG]).toContain(result.message);
      }),
      { numRuns: 5000 },
    );
  });

  it("is idempotent: canonical(canonical(p)) = canonical(p)", () => {
    fc.assert(
      fc.property(fc.oneof(hostile, spelledPath.map((s) => s.spelling)), (raw) => {
        const once = canonicalPath(raw);
        if (!once.ok) return;
        // The path is a fixed point. The flag may fall on the second pass: it records a %2F seen
        // after step 1, also one a `..` then removed (/a%2F/.. is refused on an ordinary route).
        const twice = canonicalPath(once.path);
        expect(twice.ok && twice.path, raw).toBe(once.path);
        expect(twice.ok && twice.encodedSlash, raw).toBe(once.path.includes("%2F"));
      }),
      { numRuns: 5000 },
    );
  });

  it("never holds //, a dot segment, an escape of an unreserved character, lower-case hex or a refused character", () => {
    fc.assert(
      fc.property(fc.oneof(hostile, spelledPath.map((s) => s.spelling)), (raw) => {
        const result = canonicalPath(raw);
        if (!result.ok) return;
        const { path } = result;
        expect(path.startsWith("/"), raw).toBe(true);
        expect(path, raw).not.toContain("//");
        expect(path.split("/").slice(1).some((segment) => segment === "." || segment === ".."), raw).toBe(false);
        for (const escape of path.match(/%../g) ?? []) {
          expect(escape, raw).toMatch(/^%[0-9A-F]{2}$/);
          expect(UNRESERVED.includes(String.fromCharCode(Number.parseInt(escape.slice(1), 16))), raw).toBe(false);
          expect(["%25", "%5C", "%7F"].includes(escape) || Number.parseInt(escape.slice(1), 16) < 0x20, raw).toBe(false);
        }
        // Nothing but kept characters and escapes: the URL parser gives the same path back.
        expect(path, raw).toMatch(/^(?:[A-Za-z0-9\-._~!$&'()*+,=:@[\]|^/]|%[0-9A-F]{2})*$/);
        expect(new URL(path, "https://gw.test").pathname, raw).toBe(path);
        // SPEC 10.5 looks at the path after step 1, before dot segments go: a %2F the result
        // still holds was certainly seen, and one a `..` removed was seen too.
        if (path.includes("%2F")) expect(result.encodedSlash, raw).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("gives every spelling of a path (escapes, hex case, slash runs, dot segments, \\) one canonical form", () => {
    fc.assert(
      fc.property(spelledPath, ({ base, spelling }) => {
        expect(canonicalPath(spelling), spelling).toEqual({ ok: true, path: base, encodedSlash: false });
      }),
      { numRuns: 5000 },
    );
  });

  it("never changes a reserved character's meaning: raw stays raw, escaped stays escaped, segment by segment", () => {
    const token = fc.oneof(
      fc.constantFrom(...UNRESERVED.replace(".", "")).map((c) => ({ raw: c, meaning: c })),
      fc.tuple(fc.constantFrom(...UNRESERVED.replace(".", "")), fc.boolean()).map(([c, lower]) => ({ raw: hexCase(escapeOf(c), lower), meaning: c })),
      fc.constantFrom(...RESERVED_RAW).map((c) => ({ raw: c, meaning: c })),
      fc.tuple(fc.constantFrom(...RESERVED_ESCAPES), fc.boolean()).map(([e, lower]) => ({ raw: hexCase(e, lower), meaning: e })),
    );
    const segment = fc.array(token, { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), (segments) => {
        const raw = `/${segments.map((tokens) => tokens.map((t) => t.raw).join("")).join("/")}`;
        const result = canonicalPath(raw);
        expect(result.ok, raw).toBe(true);
        if (!result.ok) return;
        const out = result.path.slice(1).split("/");
        expect(out.length, raw).toBe(segments.length);
        // Each output segment reads, token by token, exactly as its input meant it: an escaped
        // reserved character is never decoded, a raw one never encoded.
        out.forEach((text, i) => {
          const expected = segments[i]!.map((t) => t.meaning).join("");
          expect(text, raw).toBe(expected);
        });
      }),
      { numRuns: 3000 },
    );
  });

  it("refuses a path holding a refused character anywhere, and marks %2F wherever it is", () => {
    // (An incomplete escape is followed by `/` so that the spelling cannot complete it.)
    const refused = fc.constantFrom("%5C", "%5c", "%25", "%2561", "%00", "%0a", "%1F", "%7F", "%7f", ";", ";x=1", "%/", "%z", "%zz", "%4/");
    fc.assert(
      fc.property(spelledPath, refused, fc.nat(), ({ spelling }, bad, at) => {
        const position = at % (spelling.length + 1);
        const raw = `${spelling.slice(0, position)}${bad}${spelling.slice(position)}`;
        expect(canonicalPath(raw), raw).toEqual({ ok: false, message: MALFORMED_PATH });
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(basePath, fc.constantFrom("%2F", "%2f"), fc.nat(), (base, slash, at) => {
        const position = 1 + (at % base.length);
        const raw = `${base.slice(0, position)}x${slash}y${base.slice(position)}`;
        const result = canonicalPath(raw);
        expect(result.ok && result.encodedSlash && result.path.includes("x%2Fy"), raw).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("canonicalPath: edges", () => {
  it.each([
    ["/v1/admin-only", "/v1/admin-only"],
    ["/v1//admin-only", "/v1/admin-only"],
    ["///v1///admin-only///", "/v1/admin-only/"],
    ["/v1/%61dmin-only", "/v1/admin-only"],
    ["/v1/%61%64%6D%69%6E-only", "/v1/admin-only"],
    ["/v1/ADMIN-ONLY", "/v1/ADMIN-ONLY"], // case is the route matcher's business, not the path's
    ["/v1/%7e%41%2d%5F", "/v1/~A-_"],
    ["/v1/./admin-only", "/v1/admin-only"],
    ["/v1/x/../admin-only", "/v1/admin-only"],
    ["/v1/x/%2e%2E/admin-only", "/v1/admin-only"],
    ["/v1/x/.%2e/admin-only", "/v1/admin-only"],
    ["/v1/%2e/admin-only", "/v1/admin-only"],
    ["/v1\\admin-only", "/v1/admin-only"],
    ["/../../v1/admin-only", "/v1/admin-only"],
    ["/v1/admin-only/.", "/v1/admin-only/"],
    ["/v1/admin-only/..", "/v1/"],
    ["/..", "/"],
    ["", "/"],
    ["/", "/"],
    ["/v1/admin-only.", "/v1/admin-only."],
    ["/v1/...", "/v1/..."],
    ["/v1/a%2E%2E%2E", "/v1/a..."],
    ["/v1/%c3%a9", "/v1/%C3%A9"],
    ["/v1/café", "/v1/caf%C3%A9"],
    ["/v1/%3b%3f%23%40%3a", "/v1/%3B%3F%23%40%3A"],
    ["/v1/a%20b", "/v1/a%20b"],
    ["/v1/a b\"<>`{}^", "/v1/a%20b%22%3C%3E%60%7B%7D^"],
    ["/v1/[x]|y@z:w", "/v1/[x]|y@z:w"],
  ])("%j → %j", (raw, expected) => {
    expect(canonicalPath(raw)).toEqual({ ok: true, path: expected, encodedSlash: false });
  });

  it.each(["/v1%2fadmin-only", "/v1%2Fadmin-only", "/v1/a%2Fb", "/v1/%2F"])("%j holds an encoded slash, kept encoded", (raw) => {
    const result = canonicalPath(raw);
    expect(result).toEqual({ ok: true, path: raw.replace("%2f", "%2F"), encodedSlash: true });
  });

  it.each([
    ["/a%2F/..", "/"],
    ["/%2f/%2e.", "/"],
    ["/v1/x%2Fy/../admin-only", "/v1/admin-only"],
  ])("%j: an encoded slash a dot segment removed still counts (SPEC 10.5 looks after step 1) → %j", (raw, expected) => {
    expect(canonicalPath(raw)).toEqual({ ok: true, path: expected, encodedSlash: true });
  });

  it.each([
    "/v1/admin-only;x=1",
    "/v1;/admin-only",
    "/v1/admin-only;",
    "/v1%5cadmin-only",
    "/v1%5Cadmin-only",
    "/v1/%2561dmin-only",
    "/v1/%25",
    "/v1/admin%00-only",
    "/v1/admin%0d%0a-only",
    "/v1/admin%1F",
    "/v1/admin%7f",
    "/v1/%zz",
    "/v1/%",
    "/v1/%a",
    "/v1/%g0",
    "/v1/a%2F..%2Fadmin-only", // a dot segment behind %2F, which an origin may decode
    "/v1/a%2F.",
    "/v1/..%2f",
    "/v1/\u0000",
    "/v1/\t",
    "/v1/\ud800",
  ])("%j is refused: Malformed request path", (raw) => {
    expect(canonicalPath(raw)).toEqual({ ok: false, message: MALFORMED_PATH });
  });

  it("bounds the work: thousands of slashes and dot segments resolve, a longer path is refused at once", () => {
    const slashes = `/v1${"/".repeat(MAX_PATH_CHARS - 20)}admin-only`;
    expect(canonicalPath(slashes)).toEqual({ ok: true, path: "/v1/admin-only", encodedSlash: false });
    const dots = `/v1${"/..".repeat(5_000)}/x`;
    expect(canonicalPath(dots)).toEqual({ ok: true, path: "/x", encodedSlash: false });
    const climbing = `${"/a".repeat(4_000)}${"/%2e%2e".repeat(1_000)}`;
    expect(canonicalPath(climbing)).toMatchObject({ ok: true });
    expect(canonicalPath(`/${"a".repeat(MAX_PATH_CHARS - 1)}`)).toMatchObject({ ok: true });
    expect(canonicalPath(`/${"a".repeat(MAX_PATH_CHARS)}`)).toEqual({ ok: false, message: PATH_TOO_LONG });
    expect(canonicalPath("/".repeat(10_000_000))).toEqual({ ok: false, message: PATH_TOO_LONG });
  });
});
