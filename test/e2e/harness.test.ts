import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountWithKey, startGateway, type Gateway } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

let origin: Origin;
let gateway: Gateway;

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 } },
      ROUTES: [{ path: "/v1/*" }],
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

describe("the harness", () => {
  it("runs wrangler dev in front of the origin, with keys from the admin API", async () => {
    const key = await accountWithKey(gateway, { id: "harness" });
    const res = await fetch(`${gateway.url}/v1/echo`, { headers: { Authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const last = origin.received.at(-1);
    expect(last?.headers["x-account-id"]).toBe("harness");
    expect(last?.headers["x-request-id"]).toBe(res.headers.get("x-request-id"));
  });
});
