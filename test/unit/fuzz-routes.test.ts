// Fuzzing route matching (SPEC sections 3, 8 and 10): matchRoute sees every path a client can
// send — %-encoded, unicode, dot segments, empty segments, control characters — and must
// never throw, must pick the first route that matches without regard to letter case, and
// must give it the right scope. An independent matcher, written from SPEC 8's route syntax,
// is the oracle.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalPath } from "../../src/paths.ts";
import { compileRoutes, defaultScope, matchRoute } from "../../src/routes.ts";

const routes = compileRoutes(
  [
    { method: "GET", path: "/v1/posts/:id", scope: "posts:read" },
    { method: "POST", path: "/v2/files/*" },
    { path: "/img/:name" },
    { path: "/Exact" },
    { path: "/v1/*", credits: 2 },
  ],
  30_000,
);

/** Which route (index) should answer, decided without itty-router's regexes. */
function oracle(method: string, path: string): number | null {
  const lower = path.toLowerCase();
  const segments = lower.split("/"); // "" first, for the leading slash
  const rest = (n: number) => segments.slice(n);
  const onlySlashesAfter = (n: number) => rest(n).every((s) => s === "");
  if ((method === "GET" || method === "HEAD") && segments[1] === "v1" && segments[2] === "posts" && (segments[3] ?? "") !== "" && onlySlashesAfter(4)) return 0;
  if (method === "POST" && (lower === "/v2/files" || lower.startsWith("/v2/files/"))) return 1;
  if (segments[1] === "img" && (segments[2] ?? "") !== "" && onlySlashesAfter(3)) return 2;
  if (segments[1] === "exact" && onlySlashesAfter(2)) return 3;
  if (lower === "/v1" || lower.startsWith("/v1/")) return 4;
  return null;
}

const segment = fc.oneof(
  fc.constantFrom("v1", "v2", "posts", "files", "img", "exact", "a.png", ".", "..", "", "%2F", "%2f", "%00", "%E2%82%AC", "%", "%zz", "€", "😀", "a b", "x?y", "#"),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: "binary", maxLength: 4 }),
  fc.stringMatching(/^(%[0-9A-Fa-f]{2}){1,4}$/),
);
const rawPath = fc.oneof(
  fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join("/")}`),
  fc.webPath(),
  fc.string({ unit: "binary", maxLength: 40 }),
);
const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "PROPFIND");

describe("matchRoute under fuzzing", () => {
  it("never throws on any string, and answers null or a route of the table", () => {
    fc.assert(
      fc.property(method, rawPath, (m, path) => {
        const match = matchRoute(routes, m, path);
        if (match !== null) {
          expect(routes).toContain(match.route);
          expect(match.scope).toBe(match.route.scope ?? defaultScope(m));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("picks the first matching route for every canonical path a URL can carry", () => {
    fc.assert(
      fc.property(method, rawPath, (m, raw) => {
        let canonical: ReturnType<typeof canonicalPath>;
        try {
          canonical = canonicalPath(new URL(raw.startsWith("/") ? raw : `/${raw}`, "https://gateway.example").pathname);
        } catch {
          return; // not a path any request could have
        }
        if (!canonical.ok) return; // refused before routing (SPEC 10 step 5)
        const pathname = canonical.path;
        const match = matchRoute(routes, m, pathname);
        const expected = oracle(m, pathname);
        expect(match === null ? null : routes.indexOf(match.route), `${m} ${pathname}`).toBe(expected);
        if (match !== null && expected !== 0) expect(match.scope).toBe(defaultScope(m));
        if (expected === 0) expect(match?.scope).toBe("posts:read");
      }),
      { numRuns: 2000 },
    );
  });

  it("agrees with the oracle on hand-picked edges (so the oracle itself is exercised)", () => {
    const cases: [string, string, number | null][] = [
      ["GET", "/v1/posts/1", 0],
      ["GET", "/V1/Posts/1", 0],
      ["HEAD", "/v1/posts/%E2%82%AC/", 0],
      ["GET", "/v1/posts/a%2Fb", 0], // %2F is an ordinary character while matching
      ["GET", "/v1/posts/", 4],
      ["POST", "/v1/posts/1", 4],
      ["POST", "/v2/files/a/b/c", 1],
      ["POST", "/V2/FILES", 1],
      ["POST", "/v2/files/", 1],
      ["POST", "/v2/filesx", null],
      ["GET", "/img/cat.png", 2],
      ["GET", "/img/", null],
      ["GET", "/exact/", 3],
      ["GET", "/EXACT", 3],
      ["GET", "/exactly", null],
      ["DELETE", "/v1", 4],
      ["GET", "/v1x", null],
      ["GET", "/%76%31/x", null], // matchRoute takes canonical paths: canonicalPath decodes %76%31 first
    ];
    for (const [m, path, expected] of cases) {
      expect(oracle(m, path), `oracle ${m} ${path}`).toBe(expected);
      const match = matchRoute(routes, m, path);
      expect(match === null ? null : routes.indexOf(match.route), `${m} ${path}`).toBe(expected);
    }
  });
});
