// Compressed answers (SPEC 6): "a client gets the same bytes on a charged route as on a free
// one". The origin here answers gzip exactly as a server with precompressed JSON does
// (Content-Encoding: gzip with the compressed Content-Length, or chunked), whatever the
// client asked; the client sends Accept-Encoding, as clients do by default. Real wrangler dev.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { send, type Reply } from "../support/http.ts";

/** About 1.3 MB of JSON, 60 kB or so gzipped: many chunks either way. */
const PLAIN = Buffer.from(JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ["a", "b", i % 7] })) }));
const GZIPPED = gzipSync(PLAIN);

let originServer: Server;
let gateway: Gateway;
let key: string;

beforeAll(async () => {
  originServer = createServer((req, res) => {
    req.resume();
    const headers: Record<string, string> = { "Content-Type": "application/json", "Content-Encoding": "gzip", Vary: "Accept-Encoding" };
    if (req.url?.endsWith("/sized")) headers["Content-Length"] = String(GZIPPED.byteLength);
    res.writeHead(200, headers);
    // In several writes, so the body arrives in pieces.
    for (let offset = 0; offset < GZIPPED.byteLength; offset += 16 * 1024) res.write(GZIPPED.subarray(offset, offset + 16 * 1024));
    res.end();
  });
  await new Promise<void>((resolve) => originServer.listen(0, "127.0.0.1", resolve));
  const originUrl = `http://127.0.0.1:${(originServer.address() as AddressInfo).port}`;
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: originUrl,
      ROUTES: [{ path: "/v1/free/*", public: true }, { path: "/v1/paid/*", credits: 10 }],
    },
  });
  key = await accountWithKey(gateway, { id: "gzip-acct", credits: 1_000 });
});
afterAll(async () => {
  await gateway?.stop();
  originServer?.closeAllConnections();
  await new Promise<void>((resolve) => originServer?.close(() => resolve()) ?? resolve());
});

const balance = async () => (await admin(gateway, "GET", "/accounts/gzip-acct")).body.data.credits as number;

function expectOriginBytes(reply: Reply, sized: boolean): void {
  const context = `${reply.status} ${reply.headers.get("content-encoding")} ${reply.body.byteLength} bytes`;
  expect(reply.status, context).toBe(200);
  expect(reply.headers.get("content-encoding"), context).toBe("gzip");
  expect(reply.body.equals(GZIPPED), context).toBe(true);
  expect(gunzipSync(reply.body).equals(PLAIN)).toBe(true);
  expect(reply.headers.get("content-length")).toBe(sized ? String(GZIPPED.byteLength) : null);
}

describe.each([
  ["with Content-Length", "sized", true],
  ["chunked", "chunked", false],
] as const)("a gzip answer %s", (_name, path, sized) => {
  const asBrowser = { "Accept-Encoding": "gzip, deflate, br" };

  it("reaches the client byte for byte on a free route", async () => {
    expectOriginBytes(await send(gateway.url, `/v1/free/${path}`, { headers: asBrowser }), sized);
  });

  it("reaches the client byte for byte on a charged route, which keeps the charge", async () => {
    const before = await balance();
    const reply = await send(gateway.url, `/v1/paid/${path}`, { headers: { ...asBrowser, Authorization: `Bearer ${key}` } });
    expectOriginBytes(reply, sized);
    expect(reply.headers.get("x-credits-remaining")).toBe(String(before - 10));
    expect(await balance()).toBe(before - 10);
  });

  it("decodes to the same JSON through fetch() on both routes", async () => {
    const free = await fetch(`${gateway.url}/v1/free/${path}`);
    const paid = await fetch(`${gateway.url}/v1/paid/${path}`, { headers: { Authorization: `Bearer ${key}` } });
    expect(paid.status).toBe(200);
    expect(Buffer.from(await free.arrayBuffer()).equals(PLAIN)).toBe(true);
    expect(Buffer.from(await paid.arrayBuffer()).equals(PLAIN)).toBe(true);
  });
});
