// SPEC 10 inside workerd: the Worker routes, forwards, echoes and dispatches the canonical
// path. (What the runtime itself does to a raw request target, and the differential proof
// against four origin families, are end to end: test/e2e/paths-differential.test.ts.)
import { describe, expect, it } from "vitest";
import { MAX_PATH_CHARS } from "../../src/paths.ts";
import { accountWithKey, admin, call, expectEnvelope, expectSuccess, originReceived, type Echo } from "./helpers.ts";

const MALFORMED = "Malformed request path";
const LACKS_ADMIN = "API key lacks 'admin' permission required for this endpoint";

describe("spellings of a scoped path", () => {
  it.each(["/v1/admin-only/x", "/v1//admin-only/x", "/v1/%61dmin-only/x", "/V1/ADMIN-ONLY/x", "/v1/x/%2e%2e/admin-only//x/", "/v1/%41DMIN-only/x"])(
    "%s needs the admin scope, and the origin is not called",
    async (path) => {
      const { key } = await accountWithKey({}, { scopes: ["read", "write"] });
      const envelope = await expectEnvelope(await call(path, { key }), "FORBIDDEN", LACKS_ADMIN);
      expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
    },
  );

  it.each(["/v1/admin-only;x=1/x", "/v1/admin-only%3B/..;/x", "/v1%2fadmin-only/x", "/v1%5Cadmin-only/x", "/v1/%2561dmin-only/x", "/v1/admin-only/%00", "/v1/admin-only/%zz", "/v1/admin-only/%"])(
    "%s is refused before any key is looked at: 400, nothing forwarded",
    async (path) => {
      const envelope = await expectEnvelope(await call(path), "VALIDATION_ERROR", MALFORMED);
      expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
    },
  );

  it("HEAD gets the 400's status and headers, no body", async () => {
    const res = await call("/v1/x;y", { method: "HEAD" });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("");
  });
});

describe("what the origin receives", () => {
  it("the canonical path, the query exactly as sent", async () => {
    const { key } = await accountWithKey();
    const res = await call("/v1//things/%7e%41/./x/../%c3%a9?q=%2e%2E//;&r=%zz", { key });
    expect(res.status).toBe(200);
    const echo = await res.json<Echo>();
    expect(echo.path).toBe("/v1/things/~A/%C3%A9?q=%2e%2E//;&r=%zz");
    expect((await originReceived(res.headers.get("X-Request-Id")!))?.path).toBe(echo.path);
  });

  it("%2F, still encoded, on the route that sets encoded_slashes alone", async () => {
    const { key } = await accountWithKey();
    const allowed = await call("/v1/files/a%2fb", { key });
    expect(allowed.status).toBe(200);
    expect((await allowed.json<Echo>()).path).toBe("/v1/files/a%2Fb");
    for (const path of ["/v1/things/a%2Fb", "/v1/files/a%2Fb/c", "/v1/files/..%2Fadmin-only"]) {
      const envelope = await expectEnvelope(await call(path, { key }), "VALIDATION_ERROR", MALFORMED);
      expect(await originReceived(envelope.meta.request_id), path).toBeUndefined();
    }
  });
});

describe("answers and the admin API", () => {
  it("the 404 message names the canonical path", async () => {
    await expectEnvelope(await call("/nope//a/./%62?x=1"), "NOT_FOUND", "No route matches GET /nope/a/b");
  });

  it(`a path over ${MAX_PATH_CHARS} characters is refused, not echoed`, async () => {
    const envelope = await expectEnvelope(await call(`/v1/${"a".repeat(MAX_PATH_CHARS)}`), "VALIDATION_ERROR", `Request path too long: at most ${MAX_PATH_CHARS} characters`);
    expect(await originReceived(envelope.meta.request_id)).toBeUndefined();
  });

  it("admin endpoints answer to every spelling of their paths, letter case included", async () => {
    const healthy = { status: "ok", upstreams: [{ name: "default", breaker: "off" }] };
    for (const path of ["//health", "/./health", "/%68ealth", "/HEALTH"]) {
      expect(await expectSuccess(await admin("GET", path), 200), path).toEqual(healthy);
    }
    expect(await expectSuccess(await call("/_GATEWAY/Health"), 200)).toEqual(healthy);
    const { accountId } = await accountWithKey();
    const view = await expectSuccess<{ id: string }>(await admin("GET", `//Accounts/./${accountId}`), 200);
    expect(view.id).toBe(accountId);
  });

  it("an admin path with %2F or ; is refused, and its 404 names the canonical path", async () => {
    await expectEnvelope(await admin("GET", "/accounts/a%2Fb"), "VALIDATION_ERROR", MALFORMED);
    await expectEnvelope(await admin("GET", "/accounts;jsessionid=1/acme"), "VALIDATION_ERROR", MALFORMED);
    await expectEnvelope(await admin("GET", "//nope/%61"), "NOT_FOUND", "No gateway endpoint matches GET /_gateway/nope/a");
  });
});
