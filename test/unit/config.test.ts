// Configuration (SPEC section 8) and the route table (sections 3 and 8), without workerd.
import { describe, expect, it, vi } from "vitest";
import { adminTokenProblem, loadConfig } from "../../src/config.ts";
import { compileRoutes, matchRoute } from "../../src/routes.ts";
import { base, error, ok } from "./config-helpers.ts";

describe("parseConfig", () => {
  it("applies the documented defaults", () => {
    const config = ok(base);
    expect(config.upstreamTimeoutMs).toBe(30_000);
    expect(config.authFailuresPerMinute).toBe(20);
    expect(config.corsOrigins).toBeNull();
    expect(config.plans).toEqual({ default: { perMinute: null, perDay: null } });
    expect(config.adminToken).toBeNull();
    expect(config.upstreamToken).toBeNull();
    // Without ROUTES every path is proxied with the defaults.
    expect(matchRoute(config.routes, "DELETE", "/anything/at/all")?.scope).toBe("write");
    expect(matchRoute(config.routes, "GET", "/")?.route.public).toBe(false);
  });

  it("reads the example of SPEC section 8", () => {
    const config = ok({
      ...base,
      UPSTREAM_TIMEOUT_MS: 30000,
      CORS_ORIGINS: ["https://app.example.com"],
      PLANS: { default: { per_minute: 60, per_day: 1000 }, pro: { per_minute: 600, per_day: 100000 }, nightly: { per_day: 5 } },
      ROUTES: [
        { method: "POST", path: "/v1/content/generate", scope: "write", credits: 40, timeout_ms: 60000 },
        { path: "/v1/status", public: true },
      ],
      ADMIN_TOKEN: "a".repeat(32),
      UPSTREAM_TOKEN: "",
    });
    expect(config.plans.nightly).toEqual({ perMinute: null, perDay: 5 });
    expect(config.routes[0]).toMatchObject({ method: "POST", credits: 40, timeoutMs: 60_000, public: false });
    expect(config.routes[1]).toMatchObject({ method: null, credits: 0, timeoutMs: 30_000, public: true });
    expect(config.adminToken).toBe("a".repeat(32));
    expect(config.upstreamToken).toBeNull(); // an empty secret is no secret
  });

  it("accepts numbers and tables given as strings (from .dev.vars or --var)", () => {
    const config = ok({ ...base, UPSTREAM_TIMEOUT_MS: "1500", PLANS: '{"default":{"per_minute":2}}', ROUTES: '[{"path":"/x"}]' });
    expect(config.upstreamTimeoutMs).toBe(1500);
    expect(config.plans.default).toEqual({ perMinute: 2, perDay: null });
    expect(config.routes).toHaveLength(1);
  });

  it.each([
    [{}, "UPSTREAM_URL: is required"],
    [{ UPSTREAM_URL: "origin.example.com" }, "UPSTREAM_URL: must be an absolute http(s) URL"],
    [{ UPSTREAM_URL: "ftp://origin.example.com" }, "UPSTREAM_URL: must be an absolute http(s) URL"],
    [{ ...base, UPSTREAM_TIMEOUT_MS: -1 }, "UPSTREAM_TIMEOUT_MS: must be a positive integer"],
    [{ ...base, UPSTREAM_TIMEOUT_MS: 1.5 }, "UPSTREAM_TIMEOUT_MS: must be a positive integer"],
    [{ ...base, UPSTREAM_TIMEOUT_MS: 10_000_000 }, "UPSTREAM_TIMEOUT_MS: must be at most 600000"],
    [{ ...base, AUTH_FAILURES_PER_MINUTE: 0 }, "AUTH_FAILURES_PER_MINUTE: must be a positive integer"],
    [{ ...base, PLANS: { pro: { per_minute: 1 } } }, "PLANS: must hold a plan named default"],
    [{ ...base, PLANS: { default: { per_minute: -5 } } }, "PLANS.default.per_minute: must be a positive integer"],
    [{ ...base, PLANS: { default: { per_minute: 2.5 } } }, "PLANS.default.per_minute: must be a positive integer"],
    [{ ...base, PLANS: { default: { per_day: "100" } } }, "PLANS.default.per_day: must be a positive integer"],
    [{ ...base, PLANS: { default: { per_hour: 5 } } }, "PLANS.default.per_hour: unknown field"],
    [{ ...base, PLANS: "{not json" }, "PLANS: must be a table of plans"],
    [{ ...base, ROUTES: [{ path: "/a", credits: "x" }] }, "ROUTES[0].credits: must be a non-negative integer"],
    [{ ...base, ROUTES: [{ path: "/a" }, { path: "/b", credits: -1 }] }, "ROUTES[1].credits: must be a non-negative integer"],
    [{ ...base, ROUTES: [{ path: "/a", credits: 0.5 }] }, "ROUTES[0].credits: must be a non-negative integer"],
    [{ ...base, ROUTES: [{ path: "a" }] }, "ROUTES[0].path: must start with /"],
    [{ ...base, ROUTES: [{ method: "GET" }] }, "ROUTES[0].path: is required"],
    [{ ...base, ROUTES: [{ path: "/_gateway/x" }] }, "ROUTES[0].path: must not be under /_gateway/"],
    [{ ...base, ROUTES: [{ path: "/_Gateway/x" }] }, "ROUTES[0].path: must not be under /_gateway/"],
    [{ ...base, ROUTES: [{ path: "/%5Fgateway" }] }, "ROUTES[0].path: must not be under /_gateway/"],
    // SPEC 8: literal segments, :name parameters and a trailing *; nothing else, never a regex.
    [{ ...base, ROUTES: [{ path: "/v1/status|", public: true }] }, "ROUTES[0].path: holds '|', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/(admin)" }] }, "ROUTES[0].path: holds '(', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/[a-z]" }] }, "ROUTES[0].path: holds '[', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/posts?" }] }, "ROUTES[0].path: holds '?', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/a+" }] }, "ROUTES[0].path: holds '+', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1\\admin" }] }, "ROUTES[0].path: holds '\\', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/{id}" }] }, "ROUTES[0].path: holds '{', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/$metadata" }] }, "ROUTES[0].path: holds '$', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/@me" }] }, "ROUTES[0].path: holds '@', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/a;b" }] }, "ROUTES[0].path: holds ';', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/a%2Fb" }] }, "ROUTES[0].path: holds '%2F', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/a%zz" }] }, "ROUTES[0].path: holds '%zz', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1*" }] }, "ROUTES[0].path: holds '*', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/*/x" }] }, "ROUTES[0].path: may hold * only as its last segment"],
    [{ ...base, ROUTES: [{ path: "/v1/:id+" }] }, "ROUTES[0].path: has the parameter ':id+'"],
    [{ ...base, ROUTES: [{ path: "/v1/:name.:ext" }] }, "ROUTES[0].path: has the parameter ':name.:ext'"],
    [{ ...base, ROUTES: [{ path: "/v1/:1" }] }, "ROUTES[0].path: has the parameter ':1'"],
    [{ ...base, ROUTES: [{ path: "/v1/x:y" }] }, "ROUTES[0].path: holds ':', which is not allowed"],
    [{ ...base, ROUTES: [{ path: "/v1/:id/x/:id" }] }, "ROUTES[0].path: uses the parameter :id twice"],
    [{ ...base, ROUTES: [{ path: "/v1//admin" }] }, "ROUTES[0].path: must not hold an empty segment (//)"],
    [{ ...base, ROUTES: [{ path: "/v1/../admin" }] }, "ROUTES[0].path: must not hold a . or .. segment"],
    [{ ...base, ROUTES: [{ path: "/v1/%2e/admin" }] }, "ROUTES[0].path: must not hold a . or .. segment"],
    [{ ...base, ROUTES: [{ path: "/v1/*", method: "*" }] }, "ROUTES[0].method: must be an HTTP method such as GET (leave method out to match every method)"],
    [{ ...base, ROUTES: [{ path: "/v1/*", method: "G*T" }] }, "ROUTES[0].method: must be an HTTP method such as GET"],
    [{ ...base, ROUTES: [{ path: "/v1/*", encoded_slashes: "yes" }] }, "ROUTES[0].encoded_slashes: must be true or false"],
    [{ ...base, ROUTES: [{ path: "/a", public: true, scope: "read" }] }, "ROUTES[0]: a public route cannot set scope"],
    [{ ...base, ROUTES: [{ path: "/a", public: true, credits: 5 }] }, "ROUTES[0]: a public route cannot set credits"],
    [{ ...base, ROUTES: [{ path: "/a", method: "GE T" }] }, "ROUTES[0].method: must be an HTTP method"],
    [{ ...base, ROUTES: [{ path: "/a", cost: 3 }] }, "ROUTES[0].cost: unknown field"],
    [{ ...base, ROUTES: { path: "/a" } }, "ROUTES: must be an array of tables"],
    [{ ...base, CORS_ORIGINS: "https://app.example.com" }, "CORS_ORIGINS: must be a list of origins, such as"],
    [{ ...base, CORS_ORIGINS: ["app.example.com"] }, "CORS_ORIGINS[0]: must be an origin"],
    [{ ...base, ADMIN_TOKEN: 42 }, "ADMIN_TOKEN: must be a string"],
  ])("refuses %j, naming the field", (env, message) => {
    expect(error(env)).toContain(message);
  });

  it("takes any ADMIN_TOKEN (the contract defines the admin API for any), an empty one as unset; one under 32 characters is weak", () => {
    const strong = ok({ ...base, ADMIN_TOKEN: "b".repeat(32) });
    expect(strong.adminToken).toBe("b".repeat(32));
    expect(adminTokenProblem(strong)).toBeNull();
    expect(ok({ ...base, ADMIN_TOKEN: "" }).adminToken).toBeNull();
    expect(adminTokenProblem(ok({ ...base, ADMIN_TOKEN: "" }))).toBeNull();
    const weak = ok({ ...base, ADMIN_TOKEN: "hunter2-short" });
    expect(weak.adminToken).toBe("hunter2-short");
    const problem = adminTokenProblem(weak);
    expect(problem).toContain("ADMIN_TOKEN: must be at least 32 characters");
    // Named, never repeated.
    expect(problem).not.toContain("hunter2");
    expect(adminTokenProblem(ok({ ...base, ADMIN_TOKEN: "a".repeat(31) }))).toContain("at least 32 characters");
  });

  it("loadConfig warns once about a weak ADMIN_TOKEN, without the token, and serves with it", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const env = { ...base, ADMIN_TOKEN: "hunter2-short" };
      expect(loadConfig(env)).toMatchObject({ ok: true, config: { adminToken: "hunter2-short" } });
      loadConfig(env);
      expect(warn).toHaveBeenCalledTimes(1);
      const line = JSON.parse(String(warn.mock.calls[0]![0])) as { warning: string };
      expect(line.warning).toMatch(/^ADMIN_TOKEN: must be at least 32 characters/);
      expect(line.warning).not.toContain("hunter2");
      loadConfig({ ...base, ADMIN_TOKEN: "c".repeat(40) });
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("route paths and encoded_slashes", () => {
  it("a route's literal is spelled canonically, so it meets requests on their own terms", () => {
    const config = ok({ ...base, ROUTES: [{ path: "/v1/%61dmin" }, { path: "/v1/café/:id" }, { path: "/files/:name", encoded_slashes: true }, { path: "/*" }] });
    expect(matchRoute(config.routes, "GET", "/v1/admin")?.route.path).toBe("/v1/%61dmin");
    expect(matchRoute(config.routes, "GET", "/V1/ADMIN/")?.route.path).toBe("/v1/%61dmin");
    expect(matchRoute(config.routes, "GET", "/v1/caf%C3%A9/7")?.route.path).toBe("/v1/café/:id");
    expect(config.routes.map((route) => route.encodedSlashes)).toEqual([false, false, true, false]);
    // %2F is an ordinary character while matching: the parameter takes it.
    expect(matchRoute(config.routes, "GET", "/files/a%2Fb")?.route.path).toBe("/files/:name");
  });

  it("method is upper-cased and otherwise an HTTP method; leaving it out matches every method", () => {
    const config = ok({ ...base, ROUTES: [{ path: "/a", method: "propfind" }, { path: "/b" }] });
    expect(config.routes[0]?.method).toBe("PROPFIND");
    expect(matchRoute(config.routes, "PROPFIND", "/a")?.route.path).toBe("/a");
    for (const method of ["GET", "DELETE", "PURGE"]) expect(matchRoute(config.routes, method, "/b")?.route.path).toBe("/b");
  });
});

describe("the route table", () => {
  const routes = compileRoutes(
    [
      { method: "POST", path: "/v1/content/generate", credits: 40 },
      { path: "/v1/status", public: true },
      { method: "GET", path: "/v1/posts/:id", scope: "posts:read" },
      { path: "/v1/*" },
    ],
    30_000,
  );

  it("first match wins, by method and itty-router pattern", () => {
    expect(matchRoute(routes, "POST", "/v1/content/generate")?.route.credits).toBe(40);
    expect(matchRoute(routes, "GET", "/v1/content/generate")?.route.path).toBe("/v1/*");
    expect(matchRoute(routes, "GET", "/v1/posts/42")).toMatchObject({ scope: "posts:read", route: { path: "/v1/posts/:id" } });
    expect(matchRoute(routes, "GET", "/v1/posts/42/comments")?.route.path).toBe("/v1/*");
    expect(matchRoute(routes, "GET", "/v2/posts")).toBeNull();
    expect(matchRoute(routes, "GET", "/")).toBeNull();
  });

  it("a route for GET also serves HEAD", () => {
    expect(matchRoute(routes, "HEAD", "/v1/posts/42")?.route.path).toBe("/v1/posts/:id");
    expect(matchRoute(routes, "PUT", "/v1/posts/42")?.route.path).toBe("/v1/*");
  });

  it("defaults the scope by method", () => {
    for (const method of ["GET", "HEAD", "OPTIONS"]) expect(matchRoute(routes, method, "/v1/x")?.scope).toBe("read");
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"]) expect(matchRoute(routes, method, "/v1/x")?.scope).toBe("write");
  });

  it("matches encoded and unicode paths as the URL parser gives them", () => {
    expect(matchRoute(routes, "GET", new URL("https://gw.test/v1/caf%C3%A9/%2F").pathname)?.route.path).toBe("/v1/*");
    expect(matchRoute(routes, "GET", new URL("https://gw.test/v1/ünïcödé").pathname)?.route.path).toBe("/v1/*");
    expect(matchRoute(routes, "GET", `/v1/${"a".repeat(8192)}`)?.route.path).toBe("/v1/*");
  });
});
