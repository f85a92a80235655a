// SPEC section 12's circuit breaker from the outside, against real origin processes:
//
// - flaky: an upstream on the live default origin. 500s never open its breaker; 502, 503 and
//   504 in a row do. Open, its routes answer 500 with Retry-After at once: the origin (alive
//   all along) receives nothing, and the default upstream's routes are unaffected.
// - billing and quick: two upstreams on one more origin process, killed with SIGKILL. Each
//   breaker opens after `failures` unreachable calls (each refunded); open, its routes answer
//   before any admission — no credit, no rate-limit slot — and the other origin's routes are
//   unaffected. billing stays open for the rest of the file, so once the origin is started
//   again it shows the origin untouched while open, whatever the machine's speed. quick's
//   pause is short: after it exactly one trial goes through (held at the origin while three
//   more requests are refused), and its success closes the breaker. A trial that fails
//   reopens it; a trial that never reaches the origin (401, 402) hands the trial to the next
//   request instead of leaving the breaker stuck half-open.
//
// State changes are waited for by watching GET /_gateway/health and the log, never by
// sleeping a fixed time; no assertion depends on how fast the machine is.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectEnvelope, logLineFor, waitForLog } from "../support/envelope.ts";
import { accountWithKey, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { send, type Reply } from "../support/http.ts";
import { startOriginProcess, type OriginProcess } from "../support/processes.ts";

const UNAVAILABLE = "The upstream service is temporarily unavailable";
const UNREACHABLE = "The upstream service could not be reached.";
const FAILED = "The upstream service failed to handle the request.";
/** Open for the rest of the file: flaky's and billing's breakers. */
const LONG_OPEN_SECONDS = 600;
const BILLING_FAILURES = 3;
/** quick's breaker: a short pause, to see it half-open and closed again. */
const QUICK_FAILURES = 2;
const QUICK_OPEN_SECONDS = 2;
const COST = 5;
const ACCOUNT = "breaker-acme";

let main: OriginProcess;
/** billing's and quick's origin: killed, then started again on the same port. */
let second: OriginProcess;
let gateway: Gateway;
let auth: { Authorization: string };

beforeAll(async () => {
  [main, second] = await Promise.all([startOriginProcess(), startOriginProcess()]);
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: main.url,
      UPSTREAMS: {
        flaky: { url: main.url, breaker: { failures: 3, open_seconds: LONG_OPEN_SECONDS } },
        billing: { url: second.url, breaker: { failures: BILLING_FAILURES, open_seconds: LONG_OPEN_SECONDS } },
        quick: { url: second.url, breaker: { failures: QUICK_FAILURES, open_seconds: QUICK_OPEN_SECONDS } },
      },
      ROUTES: [
        { path: "/f/*", upstream: "flaky", strip_prefix: "/f", public: true },
        { path: "/b/*", upstream: "billing", strip_prefix: "/b", credits: COST },
        { path: "/bp/*", upstream: "billing", strip_prefix: "/bp", public: true },
        { path: "/q/*", upstream: "quick", strip_prefix: "/q", credits: COST },
        { path: "/qp/*", upstream: "quick", strip_prefix: "/qp", public: true },
        { path: "/a/*", credits: 1 },
      ],
    },
  });
  auth = { Authorization: `Bearer ${await accountWithKey(gateway, { id: ACCOUNT, credits: 1_000 })}` };
});
afterAll(async () => {
  await gateway?.stop();
  await Promise.all([main?.kill(), second?.kill()]);
});

type Health = { name: string; breaker: string; consecutive_failures?: number; retry_after?: number; trial_in_flight?: boolean };

async function health(name: string): Promise<Health> {
  const reply = await send(gateway.url, "/_gateway/health");
  expect(reply.status).toBe(200);
  const upstream = (JSON.parse(reply.text).data.upstreams as Health[]).find((u) => u.name === name);
  if (upstream === undefined) throw new Error(`health lists no upstream ${name}: ${reply.text}`);
  return upstream;
}

/** Polls the health endpoint until `name`'s breaker is in `state`; gives up after half the test timeout. */
async function untilBreaker(name: string, state: string): Promise<Health> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const seen = await health(name);
    if (seen.breaker === state || Date.now() > deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function account(): Promise<{ credits: number; used: number }> {
  const res = await admin(gateway, "GET", `/accounts/${ACCOUNT}`);
  expect(res.status).toBe(200);
  return { credits: res.body.data.credits, used: res.body.data.usage.day.used };
}

/** The requests `origin` received whose X-Request-Id is one of the replies'. */
async function receivedOf(origin: OriginProcess, replies: readonly Reply[]): Promise<string[]> {
  const ids = new Set(replies.map((reply) => reply.headers.get("x-request-id")));
  return (await origin.received()).filter((r) => ids.has(r.headers["x-request-id"] as string)).map((r) => r.target);
}

describe("flaky: which answers open a breaker (the origin alive all along)", () => {
  it("500s never do: every one is forwarded, and the breaker stays closed with no failure counted", async () => {
    const replies: Reply[] = [];
    for (let i = 0; i < 6; i++) replies.push(await send(gateway.url, "/f/status/500"));
    for (const reply of replies) expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: FAILED });
    expect(await receivedOf(main, replies)).toHaveLength(6);
    expect(await health("flaky")).toEqual({ name: "flaky", breaker: "closed", consecutive_failures: 0 });
  });

  it("502, 503 and 504 count, a 500 between them starts the count again, and three in a row open it", async () => {
    const statuses = [502, 503, 500, 504, 503];
    for (const [i, status] of statuses.entries()) {
      const reply = await send(gateway.url, `/f/status/${status}`);
      expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: FAILED });
      expect((await health("flaky")).consecutive_failures, `after ${statuses.slice(0, i + 1).join(", ")}`).toBe([1, 2, 0, 1, 2][i]);
    }
    const opening = Date.now();
    const third = await send(gateway.url, "/f/status/502");
    expectEnvelope(third, { status: 500, code: "INTERNAL_ERROR", message: FAILED });
    const output = await waitForLog(gateway.output, third.headers.get("x-request-id")!);
    expect(logLineFor(output, third.headers.get("x-request-id")!)).toMatchObject({ upstream: "flaky", breaker: "opened", origin_status: 502 });

    // Open: answered at once, before anything else; the live origin receives none of it.
    const refused: Reply[] = [];
    for (const path of ["/f/echo", "/f/status/200", "/F/echo?x=1"]) refused.push(await send(gateway.url, path));
    refused.push(await send(gateway.url, "/f/echo", { method: "HEAD" }));
    const elapsed = Math.ceil((Date.now() - opening) / 1000);
    for (const [i, reply] of refused.entries()) {
      expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: UNAVAILABLE, retryAfter: [LONG_OPEN_SECONDS - elapsed, LONG_OPEN_SECONDS], head: i === 3 });
    }
    expect(await receivedOf(main, refused)).toEqual([]);
    const seen = await health("flaky");
    expect(seen.breaker).toBe("open");
    expect(seen.retry_after).toBeGreaterThanOrEqual(LONG_OPEN_SECONDS - elapsed - 1);
    const output2 = await waitForLog(gateway.output, refused[0]!.headers.get("x-request-id")!);
    expect(logLineFor(output2, refused[0]!.headers.get("x-request-id")!)).toMatchObject({ upstream: "flaky", breaker: "open", status: 500, code: "INTERNAL_ERROR" });
  });

  it("the default upstream, on the same origin, is not affected", async () => {
    const reply = await send(gateway.url, "/a/echo", { headers: auth });
    expect(reply.status).toBe(200);
    expect(await receivedOf(main, [reply])).toEqual(["/a/echo"]);
  });
});

describe("billing and quick: their origin killed, then started again", () => {
  let secondPort: number;

  it(`billing opens after ${BILLING_FAILURES} unreachable calls, each refunded`, async () => {
    secondPort = second.port;
    const before = await account();
    await second.kill("SIGKILL");
    for (let i = 1; i <= BILLING_FAILURES; i++) {
      const reply = await send(gateway.url, "/b/echo", { headers: auth });
      expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: UNREACHABLE });
      expect(reply.headers.get("x-credits-remaining")).toBe(String(before.credits));
      if (i < BILLING_FAILURES) expect(await health("billing")).toEqual({ name: "billing", breaker: "closed", consecutive_failures: i });
    }
    expect((await health("billing")).breaker).toBe("open");
    const after = await account();
    expect(after.credits).toBe(before.credits);
    expect(after.used).toBe(before.used + BILLING_FAILURES);
  });

  it("open: fast 500s with Retry-After, before any admission — no credit, no slot, no key even looked at", async () => {
    const before = await account();
    const asked = Date.now();
    const replies = [
      await send(gateway.url, "/b/echo", { headers: auth }),
      await send(gateway.url, "/b/echo", { headers: auth, method: "POST", body: "{}" }),
      await send(gateway.url, "/bp/echo"),
      await send(gateway.url, "/b/echo", { headers: { Authorization: "Bearer tgk_not_a_key" } }),
      await send(gateway.url, "/b/echo"),
      await send(gateway.url, "/b/echo", { headers: auth, method: "HEAD" }),
    ];
    // The breaker opened before `asked`: what is left of its pause is at most the whole of it.
    const elapsed = Math.ceil((Date.now() - asked) / 1000);
    for (const [i, reply] of replies.entries()) {
      expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: UNAVAILABLE, retryAfter: [1, LONG_OPEN_SECONDS], head: i === 5 });
      expect(reply.headers.get("x-credits-remaining")).toBeNull();
      expect(reply.headers.get("ratelimit")).toBeNull();
    }
    const retryAfter = Number(replies[0]!.headers.get("retry-after"));
    const seen = await health("billing");
    expect(seen.breaker).toBe("open");
    // Retry-After is the seconds left: it only counts down, by the time that passed.
    expect(seen.retry_after).toBeLessThanOrEqual(retryAfter);
    expect(seen.retry_after).toBeGreaterThanOrEqual(retryAfter - elapsed - 1);
    expect(await account()).toEqual(before);
  });

  it("the other origin's routes are unaffected meanwhile", async () => {
    const reply = await send(gateway.url, "/a/echo?during=outage", { headers: auth });
    expect(reply.status).toBe(200);
    expect(await receivedOf(main, [reply])).toEqual(["/a/echo?during=outage"]);
  });

  it("started again, the origin receives nothing from an upstream whose breaker is still open", async () => {
    for (let i = 1; i <= QUICK_FAILURES; i++) expectEnvelope(await send(gateway.url, "/qp/echo"), { status: 500, code: "INTERNAL_ERROR", message: UNREACHABLE });
    expect((await health("quick")).breaker).not.toBe("closed");
    second = await startOriginProcess(secondPort);
    const replies = [await send(gateway.url, "/b/echo", { headers: auth }), await send(gateway.url, "/bp/echo?x=1")];
    for (const reply of replies) expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: UNAVAILABLE, retryAfter: [1, LONG_OPEN_SECONDS] });
    expect(await second.received()).toEqual([]);
  });

  it("after quick's pause exactly one trial goes through, and its success closes the breaker", async () => {
    const half = await untilBreaker("quick", "half_open");
    expect(half).toEqual({ name: "quick", breaker: "half_open", trial_in_flight: false });

    // The trial: held at the origin until released.
    const trial = send(gateway.url, "/q/hold/trial-1", { headers: auth });
    await untilReceived(second, "/hold/trial-1");
    expect(await health("quick")).toEqual({ name: "quick", breaker: "half_open", trial_in_flight: true });
    const whileTrial = await Promise.all([1, 2, 3].map((i) => send(gateway.url, `/q/echo?while=${i}`, { headers: auth })));
    for (const reply of whileTrial) expectEnvelope(reply, { status: 500, code: "INTERNAL_ERROR", message: UNAVAILABLE, retryAfter: 1 });
    expect((await second.received()).map((r) => r.target)).toEqual(["/hold/trial-1"]);

    await fetch(`${second.url}/__origin/release/trial-1`, { method: "POST" });
    const trialReply = await trial;
    expect(trialReply.status).toBe(200);
    expect(JSON.parse(trialReply.text)).toEqual({ held: "trial-1" });
    const output = await waitForLog(gateway.output, trialReply.headers.get("x-request-id")!);
    expect(logLineFor(output, trialReply.headers.get("x-request-id")!)).toMatchObject({ upstream: "quick", breaker: "closed", status: 200 });
    expect(await health("quick")).toEqual({ name: "quick", breaker: "closed", consecutive_failures: 0 });

    const after = await send(gateway.url, "/q/echo?after=trial", { headers: auth });
    expect(after.status).toBe(200);
    expect((await second.received()).map((r) => r.target)).toEqual(["/hold/trial-1", "/echo?after=trial"]);
    // billing's breaker, still open, kept its routes from the origin all along.
    expect((await health("billing")).breaker).toBe("open");
  });

  it("a trial that fails opens the breaker again", async () => {
    for (let i = 0; i < QUICK_FAILURES; i++) expectEnvelope(await send(gateway.url, "/qp/status/503"), { status: 500, code: "INTERNAL_ERROR", message: FAILED });
    expect((await health("quick")).breaker).not.toBe("closed");
    await untilBreaker("quick", "half_open");
    const trial = await send(gateway.url, "/qp/status/504");
    expectEnvelope(trial, { status: 500, code: "INTERNAL_ERROR", message: FAILED });
    const output = await waitForLog(gateway.output, trial.headers.get("x-request-id")!);
    expect(logLineFor(output, trial.headers.get("x-request-id")!)).toMatchObject({ upstream: "quick", breaker: "reopened", origin_status: 504 });
  });

  it("a trial refused before the origin (401, 402) leaves the next request to be the trial", async () => {
    await untilBreaker("quick", "half_open");
    const received = (await second.received()).length;

    // Refused without any lookup (a checksum that fails), and by the account's object (a revoked key).
    const malformed = await send(gateway.url, "/q/echo", { headers: { Authorization: `Bearer ${auth.Authorization.slice(7, -4)}AAAA` } });
    expectEnvelope(malformed, { status: 401, code: "UNAUTHORIZED", message: "Malformed API key" });
    expect(await health("quick")).toEqual({ name: "quick", breaker: "half_open", trial_in_flight: false });
    const revoked = await admin(gateway, "POST", `/accounts/${ACCOUNT}/keys`, { scopes: ["read"] });
    expect((await admin(gateway, "DELETE", `/accounts/${ACCOUNT}/keys/${revoked.body.data.id}`)).status).toBe(200);
    const invalid = await send(gateway.url, "/q/echo", { headers: { Authorization: `Bearer ${revoked.body.data.key}` } });
    expectEnvelope(invalid, { status: 401, code: "UNAUTHORIZED", message: "Invalid or expired API key" });
    expect(await health("quick")).toEqual({ name: "quick", breaker: "half_open", trial_in_flight: false });

    const broke = `Bearer ${await accountWithKey(gateway, { id: "breaker-broke", credits: 0 })}`;
    const poor = await send(gateway.url, "/q/echo", { headers: { Authorization: broke } });
    expectEnvelope(poor, { status: 402, code: "INSUFFICIENT_CREDITS", message: `This operation requires ${COST} credits but your balance is 0` });
    expect(await health("quick")).toEqual({ name: "quick", breaker: "half_open", trial_in_flight: false });
    expect(await second.received()).toHaveLength(received);

    const trial = await send(gateway.url, "/q/echo?trial=2", { headers: auth });
    expect(trial.status).toBe(200);
    expect((await second.received()).slice(received).map((r) => r.target)).toEqual(["/echo?trial=2"]);
    expect(await health("quick")).toEqual({ name: "quick", breaker: "closed", consecutive_failures: 0 });
  });
});

/** Waits until `origin` has received a request for `target`; gives up after half the test timeout. */
async function untilReceived(origin: OriginProcess, target: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await origin.received()).some((r) => r.target === target) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
