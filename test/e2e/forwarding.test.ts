// SPEC sections 2, 3 and 6 from the outside: what passes through untouched, what the origin
// receives (path under a base URL, body byte for byte, headers after the hygiene), request
// ids, HEAD, and the route table. One gateway with an UPSTREAM_TOKEN and a base path.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectEnvelope, logLineFor, receivedFor, REQUEST_ID, waitForLog } from "../support/envelope.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { fromFetch, send } from "../support/http.ts";
import { patternBytes, startOrigin, type Origin } from "../support/origin.ts";

const UPSTREAM_TOKEN = "upstream-secret-7f3a";
const MISSING_KEY = "Missing API key: send 'Authorization: Bearer <key>'";
const TWO_MB = 2 * 1024 * 1024;

let origin: Origin;
let gateway: Gateway;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: `${origin.url}/base/`,
      ROUTES: [
        { method: "GET", path: "/v1/ro/*", public: true },
        { path: "/v1/open/*", public: true },
        { path: "/v1/open/secret/*" }, // never reached: the route above matches first
        { path: "/v1/*" },
      ],
    },
    secrets: { UPSTREAM_TOKEN },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** Runs `action` and asserts the origin saw no request meanwhile. */
async function withOriginUntouched<T>(action: () => Promise<T>): Promise<T> {
  const before = origin.received.length;
  const result = await action();
  expect(origin.received.length).toBe(before);
  return result;
}

describe("UPSTREAM_URL with a base path", () => {
  it("joins the base path, the request's path and its query, unchanged", async () => {
    const reply = await send(gateway.url, "/v1/open/echo?x=1&y=a%20b&z=%26");
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).path).toBe("/base/v1/open/echo?x=1&y=a%20b&z=%26");
  });
});

describe("2xx and 3xx pass through untouched", () => {
  it("a 201 with the origin's status, headers and body", async () => {
    const path = "/v1/open/status/201?body=created%21&type=text/plain%3B%20charset%3Dlatin1&header=X-Origin-Note:kept&header=Cache-Control:max-age=60&header=ETag:%22v7%22";
    const reply = await send(gateway.url, path);
    expect(reply.status).toBe(201);
    expect(reply.text).toBe("created!");
    expect(reply.headers.get("content-type")).toBe("text/plain; charset=latin1");
    expect(reply.headers.get("x-origin-note")).toBe("kept");
    expect(reply.headers.get("cache-control")).toBe("max-age=60");
    expect(reply.headers.get("etag")).toBe('"v7"');
    expect(reply.headers.get("x-request-id")).toBe(receivedFor(origin.received, reply).headers["x-request-id"]);
  });

  it("a 204 with no body", async () => {
    const reply = await send(gateway.url, "/v1/open/status/204?header=X-Origin-Note:empty");
    expect(reply.status).toBe(204);
    expect(reply.body.byteLength).toBe(0);
    expect(reply.headers.get("x-origin-note")).toBe("empty");
    expect(reply.headers.get("x-request-id")).toMatch(REQUEST_ID);
  });

  it("a 302 is passed on with its Location, not followed", async () => {
    const before = origin.received.length;
    const reply = await send(gateway.url, "/v1/open/redirect");
    expect(reply.status).toBe(302);
    expect(reply.headers.get("location")).toBe("/echo");
    expect(reply.text).toBe("Found");
    expect(origin.received.length).toBe(before + 1);
    expect(receivedFor(origin.received, reply).path).toBe("/base/v1/open/redirect");
  });

  it("a 301 to another host and a 304 keep their headers", async () => {
    const moved = await send(gateway.url, "/v1/open/status/301?header=Location:https://elsewhere.example/new%3Fa%3D1");
    expect(moved.status).toBe(301);
    expect(moved.headers.get("location")).toBe("https://elsewhere.example/new?a=1");
    const notModified = await send(gateway.url, "/v1/open/status/304?header=ETag:%22v7%22", { headers: { "If-None-Match": '"v7"' } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe('"v7"');
    expect(notModified.body.byteLength).toBe(0);
    expect(receivedFor(origin.received, notModified).headers["if-none-match"]).toBe('"v7"');
  });

  it("a 2 MB response body, byte for byte", async () => {
    const reply = await send(gateway.url, `/v1/open/pattern?bytes=${TWO_MB}`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toBe("application/octet-stream");
    expect(reply.body.byteLength).toBe(TWO_MB);
    expect(reply.body.equals(patternBytes(TWO_MB))).toBe(true);
  });

  it("a 2 MB request body sent in chunks reaches the origin byte for byte", async () => {
    const bytes = patternBytes(TWO_MB);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < bytes.byteLength; offset += 64 * 1024) chunks.push(bytes.subarray(offset, offset + 64 * 1024));
    const reply = await send(gateway.url, "/v1/open/echo", { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: chunks });
    expect(reply.status).toBe(200);
    const received = receivedFor(origin.received, reply);
    expect(received.method).toBe("POST");
    expect(received.bodyBytes).toBe(TWO_MB);
    expect(received.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(received.headers["content-type"]).toBe("application/octet-stream");
  });

  it("a 2 MB request body with a Content-Length reaches the origin byte for byte", async () => {
    const bytes = patternBytes(TWO_MB).reverse();
    const reply = await fromFetch(await fetch(`${gateway.url}/v1/open/echo`, { method: "PUT", body: new Uint8Array(bytes) }));
    expect(reply.status).toBe(200);
    const received = receivedFor(origin.received, reply);
    expect(received.method).toBe("PUT");
    expect(received.bodyBytes).toBe(TWO_MB);
    expect(received.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
  });
});

describe("HEAD gets headers and no body", () => {
  it("on a GET route, forwarded as HEAD", async () => {
    const reply = await send(gateway.url, "/v1/ro/echo", { method: "HEAD" });
    expect(reply.status).toBe(200);
    expect(reply.body.byteLength).toBe(0);
    expect(reply.headers.get("content-type")).toBe("application/json");
    const received = receivedFor(origin.received, reply);
    expect(received.method).toBe("HEAD");
    expect(received.path).toBe("/base/v1/ro/echo");
  });

  it("on an origin error, on no route and on the health check", async () => {
    expectEnvelope(await send(gateway.url, "/v1/open/status/409", { method: "HEAD" }), { status: 409, code: "CONFLICT", head: true });
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/nowhere", { method: "HEAD" }), { status: 404, code: "NOT_FOUND", head: true });
      expectEnvelope(await send(gateway.url, "/v1/private/echo", { method: "HEAD" }), { status: 401, code: "UNAUTHORIZED", head: true });
    });
    const health = await send(gateway.url, "/_gateway/health", { method: "HEAD" });
    expect(health.status).toBe(200);
    expect(health.body.byteLength).toBe(0);
    expect(health.headers.get("x-request-id")).toMatch(REQUEST_ID);
  });
});

describe("request ids (SPEC 2)", () => {
  it("every response carries its own X-Request-Id, the origin's included", async () => {
    const replies = [
      await send(gateway.url, "/v1/open/echo"),
      await send(gateway.url, "/v1/open/status/500"),
      await send(gateway.url, "/v1/open/redirect"),
      await send(gateway.url, "/nowhere"),
      await send(gateway.url, "/v1/private/echo"),
      await send(gateway.url, "/_gateway/health"),
      await send(gateway.url, "/_gateway/accounts/x"),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 500, 302, 404, 401, 200, 401]);
    const ids = replies.map((r) => r.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(REQUEST_ID);
    expect(new Set(ids).size).toBe(ids.length);
    for (const reply of replies.slice(0, 3)) expect(receivedFor(origin.received, reply).headers["x-request-id"]).toBe(reply.headers.get("x-request-id"));
  });

  it("a client's X-Request-Id goes to the origin as X-Client-Request-Id and is not the id", async () => {
    const reply = await send(gateway.url, "/v1/open/echo", { headers: { "X-Request-Id": "req_AAAAAAAAAAAAAAAAAAAA" } });
    const id = reply.headers.get("x-request-id");
    expect(id).toMatch(REQUEST_ID);
    expect(id).not.toBe("req_AAAAAAAAAAAAAAAAAAAA");
    const received = receivedFor(origin.received, reply);
    expect(received.headers["x-client-request-id"]).toBe("req_AAAAAAAAAAAAAAAAAAAA");

    const failed = await send(gateway.url, "/v1/open/status/404", { headers: { "X-Request-Id": "client-404" } });
    const body = expectEnvelope(failed, { status: 404, code: "NOT_FOUND" });
    expect(body.meta.request_id).not.toBe("client-404");
    expect(receivedFor(origin.received, failed).headers["x-client-request-id"]).toBe("client-404");
  });

  it("a client cannot send its own X-Client-Request-Id", async () => {
    const reply = await send(gateway.url, "/v1/open/echo", { headers: { "X-Client-Request-Id": "forged" } });
    expect(receivedFor(origin.received, reply).headers["x-client-request-id"]).toBeUndefined();
  });

  it("the id is in the gateway's log line for the request", async () => {
    const reply = await send(gateway.url, "/v1/open/status/409");
    const id = reply.headers.get("x-request-id")!;
    const line = logLineFor(await waitForLog(gateway.output, id), id);
    expect(line).toMatchObject({ request_id: id, method: "GET", path: "/v1/open/status/409", route: "/v1/open/*", status: 409, origin_status: 409 });
  });
});

describe("header hygiene (SPEC 6)", () => {
  it("drops hop-by-hop headers, Host, the client's Authorization and its copies of the gateway's headers", async () => {
    const reply = await send(gateway.url, "/v1/open/echo", {
      headers: {
        Host: "api.client.example",
        Authorization: "Bearer client-secret-must-not-leak",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "Keep-Alive": "timeout=5",
        TE: "trailers",
        "Proxy-Connection": "keep-alive",
        Forwarded: "for=198.51.100.1",
        "X-Account-Id": "forged-account",
        "X-Account-Plan": "enterprise",
        "X-Key-Id": "forged-key",
        "X-Key-Scopes": "*",
        "X-Forwarded-For": "198.51.100.1",
        "X-Forwarded-Host": "forged.example",
        "X-Forwarded-Proto": "gopher",
        "X-Forwarded-Port": "1",
        "CF-Connecting-IP": "203.0.113.7",
        "X-Custom": "kept",
      },
    });
    expect(reply.status).toBe(200);
    const headers = receivedFor(origin.received, reply).headers;
    expect(headers.host).toBe(`127.0.0.1:${origin.port}`);
    expect(headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    for (const name of ["proxy-authorization", "keep-alive", "te", "proxy-connection", "forwarded", "x-account-id", "x-account-plan", "x-key-id", "x-key-scopes", "x-forwarded-port"]) {
      expect(headers[name], name).toBeUndefined();
    }
    expect(headers["x-forwarded-for"]).toBe("203.0.113.7");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-forwarded-host"]).toBe("api.client.example");
    expect(headers["x-custom"]).toBe("kept");
    expect(JSON.stringify(headers)).not.toContain("client-secret-must-not-leak");
  });

  it("sends the UPSTREAM_TOKEN even when the client sent no Authorization", async () => {
    const reply = await send(gateway.url, "/v1/open/echo");
    expect(receivedFor(origin.received, reply).headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  });

  it("on an authenticated route: the gateway's X-Account-Id and X-Key-Id, never the client's key", async () => {
    const key = await accountWithKey(gateway, { id: "forwarding-acct" });
    const keyId = (await admin(gateway, "GET", "/accounts/forwarding-acct")).body.data.keys[0].id as string;
    const reply = await send(gateway.url, "/v1/private/echo", {
      headers: { Authorization: `Bearer ${key}`, "X-Account-Id": "someone-else", "X-Key-Id": "k_forged", "X-Forwarded-For": "198.51.100.1", "CF-Connecting-IP": "203.0.113.8" },
    });
    expect(reply.status).toBe(200);
    const headers = receivedFor(origin.received, reply).headers;
    expect(headers["x-account-id"]).toBe("forwarding-acct");
    expect(headers["x-key-id"]).toBe(keyId);
    expect(headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(headers["x-forwarded-for"]).toBe("203.0.113.8");
    expect(JSON.stringify(headers)).not.toContain(key);
  });
});

describe("routes (SPEC 3 and 8)", () => {
  it("first match wins: a public route shadows a later key-protected one", async () => {
    const reply = await send(gateway.url, "/v1/open/secret/echo");
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).path).toBe("/base/v1/open/secret/echo");
  });

  it("no match is 404 NOT_FOUND and the origin is not called", async () => {
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/nowhere/echo"), { status: 404, code: "NOT_FOUND", message: "No route matches GET /nowhere/echo" });
      expectEnvelope(await send(gateway.url, "/", { method: "DELETE" }), { status: 404, code: "NOT_FOUND", message: "No route matches DELETE /" });
    });
  });

  it("a route for GET serves HEAD but not POST (which falls through to the next route)", async () => {
    const head = await send(gateway.url, "/v1/ro/echo", { method: "HEAD" });
    expect(head.status).toBe(200);
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/v1/ro/echo", { method: "POST", body: "{}" }), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
    });
  });

  it("a route that is not public needs a Bearer key", async () => {
    await withOriginUntouched(async () => {
      for (const authorization of [undefined, "Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc"]) {
        const headers = authorization === undefined ? {} : { Authorization: authorization };
        expectEnvelope(await send(gateway.url, "/v1/private/echo", { headers }), { status: 401, code: "UNAUTHORIZED", message: MISSING_KEY });
      }
    });
  });

  it("the Bearer scheme name is case-insensitive", async () => {
    const key = await accountWithKey(gateway, { id: "forwarding-scheme" });
    const reply = await send(gateway.url, "/v1/private/echo", { headers: { Authorization: `bEaReR ${key}` } });
    expect(reply.status).toBe(200);
    expect(receivedFor(origin.received, reply).headers["x-account-id"]).toBe("forwarding-scheme");
  });

  it("paths under /_gateway/ are the gateway's, never proxied", async () => {
    await withOriginUntouched(async () => {
      expectEnvelope(await send(gateway.url, "/_gateway/echo"), { status: 401, code: "UNAUTHORIZED" });
    });
  });
});
