// Header hygiene of the origin request (SPEC 6), on the pure builder. wrangler dev drops
// Connection itself, so the Connection-listed case can only be shown here.
import { describe, expect, it } from "vitest";
import { upstreamUrlFor } from "../../src/upstream/forward.ts";
import { upstreamHeaders } from "../../src/upstream/headers.ts";

const url = new URL("https://api.example.com/v1/posts?x=1");

describe("upstreamHeaders", () => {
  it("drops hop-by-hop headers, those named in Connection, Host and the client's Authorization", () => {
    const incoming = new Headers({
      Connection: "keep-alive, X-Hop",
      "Keep-Alive": "timeout=5",
      "X-Hop": "drop me",
      TE: "trailers",
      Upgrade: "websocket",
      "Proxy-Authorization": "Basic x",
      Host: "api.example.com",
      Authorization: "Bearer tgk_client_key",
      Accept: "application/json",
    });
    const headers = upstreamHeaders(incoming, url, "req_1", null, null);
    for (const name of ["connection", "keep-alive", "x-hop", "te", "upgrade", "proxy-authorization", "host", "authorization"]) {
      expect(headers.has(name), name).toBe(false);
    }
    expect(headers.get("accept")).toBe("application/json");
  });

  it("replaces the client's identity and forwarding headers with the gateway's own", () => {
    const incoming = new Headers({
      "X-Account-Id": "evil",
      "X-Account-Plan": "pro",
      "X-Key-Id": "evil",
      "X-Forwarded-For": "6.6.6.6",
      "X-Forwarded-Host": "evil.test",
      Forwarded: "for=6.6.6.6",
      "X-Request-Id": "client-chosen",
      "CF-Connecting-IP": "203.0.113.7",
    });
    const headers = upstreamHeaders(incoming, url, "req_gw", { accountId: "acme", keyId: "k1" }, "origin-secret");
    expect(Object.fromEntries(headers)).toMatchObject({
      "x-request-id": "req_gw",
      "x-client-request-id": "client-chosen",
      "x-account-id": "acme",
      "x-key-id": "k1",
      "x-forwarded-for": "203.0.113.7",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "api.example.com",
      authorization: "Bearer origin-secret",
    });
    expect(headers.has("x-account-plan")).toBe(false);
    expect(headers.has("forwarded")).toBe(false);
  });

  it("a public route sends no identity", () => {
    const headers = upstreamHeaders(new Headers({ "X-Key-Id": "spoof" }), url, "req_p", null, null);
    expect(headers.has("x-account-id")).toBe(false);
    expect(headers.has("x-key-id")).toBe(false);
    expect(headers.has("authorization")).toBe(false);
  });
});

describe("upstreamUrlFor", () => {
  it("joins the base path, the request path and the query", () => {
    expect(upstreamUrlFor(new URL("https://o.test"), "/v1/posts", "?x=1")).toBe("https://o.test/v1/posts?x=1");
    expect(upstreamUrlFor(new URL("https://o.test/api/"), "/v1/posts", "?x=1")).toBe("https://o.test/api/v1/posts?x=1");
    expect(upstreamUrlFor(new URL("https://o.test:8443/api"), "/", "")).toBe("https://o.test:8443/api/");
    // The query goes as received, however odd (SPEC 10 step 4); only the path is canonical.
    expect(upstreamUrlFor(new URL("https://o.test"), "/v1/a%2Fb", "?x=..//%2e&y=%zz;")).toBe("https://o.test/v1/a%2Fb?x=..//%2e&y=%zz;");
  });
});
