// Route path syntax (SPEC 8, issue 15 item 4) and matching without regard to case (SPEC 10):
// a route path is literal segments, :name parameters and a trailing *, and it matches exactly
// what that grammar says — never what a regular expression made of it would.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { canonicalPath } from "../../src/paths.ts";
import { compileRoutes, matchRoute, routePathProblem } from "../../src/routes.ts";

/** The grammar of SPEC 8, written independently of routes.ts. */
const LITERAL = String.raw`(?:[A-Za-z0-9\-._~]|[^\x00-\x7f]|%[0-9A-Fa-f]{2})+`;
const PARAMETER = String.raw`:[A-Za-z_][A-Za-z0-9_]*`;
const SEGMENT = `(?:${LITERAL}|${PARAMETER})`;
const GRAMMAR = new RegExp(String.raw`^/(?:${SEGMENT}(?:/${SEGMENT})*(?:/\*)?/?|\*)?$`, "u");

/** Does the route path `route` (valid) match the canonical path `path`? Segment by segment, no case. */
function oracle(route: string, path: string): boolean {
  const routeSegments = route.slice(1).split("/").filter((s, i, all) => !(s === "" && i === all.length - 1));
  const pathSegments = path.slice(1).split("/").filter((s, i, all) => !(s === "" && i === all.length - 1));
  const wildcard = routeSegments.at(-1) === "*";
  const fixed = wildcard ? routeSegments.slice(0, -1) : routeSegments;
  if (wildcard ? pathSegments.length < fixed.length : pathSegments.length !== fixed.length) return false;
  return fixed.every((segment, i) => {
    const actual = pathSegments[i]!;
    if (segment.startsWith(":")) return actual !== "";
    const literal = canonicalPath(`/${segment}`);
    return literal.ok && literal.path.slice(1).toLowerCase() === actual.toLowerCase();
  });
}

const literal = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,5}$/),
  fc.constantFrom("admin-only", "v1", "V1", "café", "caf%C3%A9", "%61dmin", "file.json", "a.b.c", "~x"),
);
const validRoute = fc
  .tuple(
    fc.array(fc.oneof({ arbitrary: literal, weight: 3 }, { arbitrary: fc.constant(":param"), weight: 1 }), { maxLength: 4 }),
    fc.constantFrom("", "/*", "/"),
  )
  .map(([segments, end]) => {
    let n = 0;
    const named = segments.map((s) => (s === ":param" ? `:p${n++}` : s));
    const path = `/${named.join("/")}`;
    if (end === "/*") return named.length === 0 ? "/*" : `${path}/*`;
    return end === "/" && named.length > 0 ? `${path}/` : path;
  });

/** Requests near a route: its own segments in other cases, parameters filled, extra or missing segments. */
const requestFor = (route: string) =>
  fc
    .tuple(
      fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9._~%-]{0,6}$/), fc.constantFrom("x", "%2F", "A%2Fb", "|", "..", ".", "")), { maxLength: 3 }),
      fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      fc.nat({ max: 3 }),
    )
    .map(([extra, upper, drop]) => {
      const own = route.slice(1).split("/").map((segment, i) => {
        if (segment.startsWith(":")) return extra[0] ?? "42";
        if (segment === "*") return extra.join("/");
        return upper[i % 8] ? segment.toUpperCase() : segment;
      });
      return `/${own.slice(0, Math.max(0, own.length - (drop === 3 ? 1 : 0))).join("/")}${drop === 2 ? `/${extra.join("/")}` : ""}`;
    });

describe("route path syntax", () => {
  it("accepts only what the grammar allows, whatever string the operator writes", () => {
    const anyPath = fc.oneof(
      fc.string({ maxLength: 20 }).map((s) => `/${s}`),
      fc.stringMatching(/^\/[a-z0-9:*.+()[\]{}?|\\^$%@,;=!'&_~-]{0,10}(\/[a-z0-9:*.+()[\]{}?|\\^$%@,;=!'&_~-]{0,6}){0,3}$/),
      validRoute,
    );
    fc.assert(
      fc.property(anyPath, (path) => {
        if (routePathProblem(path) === null) {
          expect(path, path).toMatch(GRAMMAR);
          expect(path, path).not.toMatch(/[|()[\]{}?+\\^$@,;=!'&]/);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("accepts every path the grammar builds, and matches exactly what the grammar says, without case", () => {
    fc.assert(
      fc.property(validRoute.chain((route) => fc.tuple(fc.constant(route), fc.oneof(requestFor(route), fc.webPath()))), ([route, request]) => {
        expect(routePathProblem(route), route).toBeNull();
        const canonical = canonicalPath(request);
        if (!canonical.ok) return;
        const routes = compileRoutes([{ path: route }], 1000);
        const matched = matchRoute(routes, "GET", canonical.path) !== null;
        expect(matched, `${route} ← ${canonical.path}`).toBe(oracle(route, canonical.path));
      }),
      { numRuns: 5000 },
    );
  });

  it("the oracle itself tells matches from misses", () => {
    expect(oracle("/v1/admin-only", "/V1/Admin-Only")).toBe(true);
    expect(oracle("/v1/admin-only", "/v1/admin-only/")).toBe(true);
    expect(oracle("/v1/admin-only", "/v1/admin-only/x")).toBe(false);
    expect(oracle("/v1/*", "/v1")).toBe(true);
    expect(oracle("/v1/*", "/v2")).toBe(false);
    expect(oracle("/v1/:id", "/v1/a%2Fb")).toBe(true);
    expect(oracle("/v1/caf%C3%A9", "/V1/CAF%C3%A9")).toBe(true);
  });

  it("/v1/status| would be a regular expression matching every path: refused, naming the field", () => {
    const result = parseConfig({ UPSTREAM_URL: "http://127.0.0.1:9", ROUTES: [{ path: "/v1/status|", public: true }, { path: "/v1/*" }] });
    const problem = "ROUTES[0].path: holds '|', which is not allowed: a route path is literal segments (letters, digits, - . _ ~), :name parameters and a trailing /*";
    expect(result).toEqual({ ok: false, error: problem, problems: [problem] });
  });
});
