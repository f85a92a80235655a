import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("smoke", () => {
  it("answers a public route through the origin", async () => {
    const res = await exports.default.fetch("https://gw.test/v1/status");
    expect(res.status).toBe(200);
    const body = await res.json<{ headers: Record<string, string> }>();
    expect(body.headers["x-request-id"]).toBe(res.headers.get("X-Request-Id"));
  });
});
