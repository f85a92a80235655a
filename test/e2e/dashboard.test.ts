// The operator dashboard (SPEC 13) in headless Chromium against the real gateway (wrangler
// dev) in front of a real origin: sign in with a wrong token then the right one, create an
// account, add credits, mint a key (shown once, copied), send traffic with it (an origin
// failure, a 402, a 403 and a 429 among it) and see the usage charts and their text show each
// outcome, revoke the key from the page after a confirmation and see it refused, a hostile
// name shown as text, the strict headers on every file of the page, the accounts list with
// its search and paging — and, all along, no console error, no failed request, no request
// anywhere but the gateway. Leaves a screenshot of the account page in test-artifacts/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page, Request, Response as PageResponse } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../support/chromium.ts";
import { ADMIN_TOKEN, ROOT, admin, startGateway, type Gateway } from "../support/gateway.ts";
import { startOrigin, type Origin } from "../support/origin.ts";

const ARTIFACTS = join(ROOT, "test-artifacts");
const XSS = "<img src=x onerror=alert(1)>";
const ACCOUNT = "dash-acme";
const KEY_PATTERN = new RegExp(`^tgk_${ACCOUNT}_[0-9A-Za-z]{42}$`);
/** The page and every file it loads: each must carry the dashboard's headers. */
const DASHBOARD_FILES = ["/_gateway/", "/_gateway/ui/app.js", "/_gateway/ui/app.css", "/_gateway/ui/uplot.css", "/_gateway/ui/favicon.svg"];

let origin: Origin;
let gateway: Gateway;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** Everything the page did that the last test checks. */
const seen = {
  consoleErrors: [] as string[],
  pageErrors: [] as string[],
  failedRequests: [] as string[],
  requests: [] as Request[],
  responses: [] as PageResponse[],
  dialogs: [] as string[],
};

beforeAll(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    vars: {
      UPSTREAM_URL: origin.url,
      PLANS: { default: { per_minute: 100, per_day: 1000 }, tight: { per_minute: 3, per_day: 1000 } },
      ROUTES: [{ method: "POST", path: "/v1/generate/*", credits: 40 }, { path: "/v1/admin/*", scope: "admin" }, { path: "/v1/*" }],
    },
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gateway.url });
  page = await context.newPage();
  page.on("console", (message) => void (message.type() === "error" && seen.consoleErrors.push(message.text())));
  page.on("pageerror", (error) => void seen.pageErrors.push(error.message));
  page.on("requestfailed", (request) => void seen.failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
  page.on("request", (request) => void seen.requests.push(request));
  page.on("response", (response) => void seen.responses.push(response));
  // A native dialog would mean a script ran that should not have (alert(1)); the page uses none.
  page.on("dialog", (dialog) => {
    seen.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await origin?.close();
});

/** Through the gateway with `key`, as a client would: status, body, and a few headers. */
async function viaGateway(key: string, method: string, path: string) {
  const res = await fetch(`${gateway.url}${path}`, { method, headers: { Authorization: `Bearer ${key}` }, body: method === "POST" ? "{}" : undefined });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code ?? null, message: body.error?.message ?? null, credits: res.headers.get("X-Credits-Remaining") };
}

const text = (selector: string) => page.locator(selector).innerText();
const visible = (selector: string) => page.locator(selector).waitFor({ state: "visible" });
const hidden = (selector: string) => page.locator(selector).waitFor({ state: "hidden" });

async function session() {
  return page.evaluate(() => ({
    token: sessionStorage.getItem("tollgate.admin-token"),
    local: localStorage.length,
    cookie: document.cookie,
    href: location.href,
  }));
}

/** The row of the keys table for the key `id`, as its cells' text. */
async function keyRow(id: string): Promise<string[]> {
  return page.locator(`#keys-table tr[data-key-id="${id}"] td`).allInnerTexts();
}

describe("the dashboard in Chromium", () => {
  let key = "";
  let keyId = "";

  it("asks for the token; a wrong one is refused with a clear error and kept nowhere", async () => {
    const response = await page.goto(`${gateway.url}/_gateway/`);
    expect(response?.status()).toBe(200);
    await visible("#sign-in-view");
    expect(await page.locator("#sign-in-form input").count()).toBe(1);
    expect(await page.locator("#token").getAttribute("type")).toBe("password");

    await page.locator("#token").fill("not-the-admin-token");
    await page.locator("#token").press("Enter");
    await visible("#sign-in-error");
    expect(await text("#sign-in-error")).toMatch(/^The gateway refused this token: Invalid admin token \(UNAUTHORIZED, request req_[0-9A-Za-z]+\)$/);
    expect(await session()).toEqual({ token: null, local: 0, cookie: "", href: `${gateway.url}/_gateway/` });
    await expect(page.locator("#accounts-view").isHidden()).resolves.toBe(true);
  });

  it("signs in with the right token on Enter, keeping it in this tab's session storage only", async () => {
    await page.locator("#token").fill(ADMIN_TOKEN);
    await page.locator("#token").press("Enter");
    await visible("#accounts-view");
    await hidden("#sign-in-view");
    const after = await session();
    expect(after.token).toBe(ADMIN_TOKEN);
    expect([after.local, after.cookie]).toEqual([0, ""]);
    expect(after.href).not.toContain(ADMIN_TOKEN);
    expect(await page.locator("#token").inputValue()).toBe("");
  });

  it("creates an account and opens its page", async () => {
    const form = page.locator("#create-account-form");
    await form.locator('input[name="id"]').fill(ACCOUNT);
    await form.locator('input[name="plan"]').fill("tight");
    await form.locator('input[name="credits"]').fill("50");
    await form.locator('button[type="submit"]').click();
    await visible("#account-body");
    expect(page.url()).toBe(`${gateway.url}/_gateway/#/accounts/${ACCOUNT}`);
    expect(await text("#account-id")).toBe(ACCOUNT);
    expect(await text("#notice")).toBe(`Created account ${ACCOUNT}.`);
    expect(await page.locator("#account-summary dd").allInnerTexts()).toEqual(["tight", "50 credits", "0 of 3", "0 of 1,000"]);
    const stored = await admin(gateway, "GET", `/accounts/${ACCOUNT}`);
    expect(stored.body.data).toMatchObject({ id: ACCOUNT, plan: "tight", credits: 50 });
  });

  it("adds credits, the reason shown as text however it is spelled", async () => {
    const form = page.locator("#credits-form");
    await form.locator('input[name="amount"]').fill("20");
    await form.locator('input[name="reason"]').fill(XSS);
    await form.locator('button[type="submit"]').click();
    await page.waitForFunction(() => document.querySelector("#account-summary dd:nth-of-type(1)") !== null && document.body.innerText.includes("70 credits"));
    expect(await text("#notice")).toBe("+20 credits: the balance is now 70.");
    const ledger = await page.locator("#ledger-table tbody tr").first().locator("td").allInnerTexts();
    expect(ledger.slice(1, 4)).toEqual(["+20", "70", XSS]);
    expect((await admin(gateway, "GET", `/accounts/${ACCOUNT}`)).body.data.credits).toBe(70);
  });

  it("mints a key, shows it once with a copy button, and lists it without the key", async () => {
    const form = page.locator("#key-form");
    await form.locator('input[name="scopes"]').fill("read, write");
    await form.locator('input[name="name"]').fill(XSS);
    await form.locator('button[type="submit"]').click();
    await visible("#new-key");
    key = await page.locator("#new-key-value").inputValue();
    expect(key).toMatch(KEY_PATTERN);
    keyId = key.slice(`tgk_${ACCOUNT}_`.length, `tgk_${ACCOUNT}_`.length + 10);

    await page.locator("#copy-key").click();
    await page.waitForFunction(() => document.querySelector("#copy-status")?.textContent !== "");
    expect(await text("#copy-status")).toBe("Copied to the clipboard.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);

    await page.locator(`#keys-table tr[data-key-id="${keyId}"]`).waitFor();
    const row = await keyRow(keyId);
    expect(row.slice(0, 6)).toEqual([`tgk_${ACCOUNT}_${keyId}`, XSS, "read, write", expect.stringMatching(/UTC$/), "never", "active"]);
    // Shown once: Done takes it off the page, and nothing else on it holds the key.
    await page.locator("#dismiss-key").click();
    await hidden("#new-key");
    expect(await page.locator("#new-key-value").inputValue()).toBe("");
    expect(await page.content()).not.toContain(key);
  });

  /** The UTC hour the traffic below was sent in; null when it straddled two. */
  let trafficHour: number | null = null;

  it("sees the traffic sent with the key: an origin failure, a success, a 402, a 403, a 429, the balance and the minute's use", async () => {
    const hourOf = (ms: number) => Math.floor(ms / 3_600_000);
    const started = Date.now();
    // A different number of each outcome, so no two of them can be mistaken for each other.
    const times = async (n: number, method: string, path: string) => {
      const answers = [];
      for (let i = 0; i < n; i++) answers.push(await viaGateway(key, method, path));
      return answers;
    };
    const answers = [
      await viaGateway(key, "POST", "/v1/generate/status/500"), // admitted, the origin fails: refunded
      await viaGateway(key, "POST", "/v1/generate/echo"), // 70 → 30
      ...(await times(2, "POST", "/v1/generate/echo")), // 30 < 40
      ...(await times(4, "GET", "/v1/admin/settings")), // the key lacks the scope
      await viaGateway(key, "GET", "/v1/echo"), // the third of 3 this minute
      ...(await times(5, "GET", "/v1/echo")), // over the minute
    ];
    trafficHour = hourOf(started) === hourOf(Date.now()) ? hourOf(started) : null;
    expect(answers.map((a) => [a.status, a.code])).toEqual([
      [500, "INTERNAL_ERROR"],
      [200, null],
      ...Array(2).fill([402, "INSUFFICIENT_CREDITS"]),
      ...Array(4).fill([403, "FORBIDDEN"]),
      [200, null],
      ...Array(5).fill([429, "RATE_LIMIT_EXCEEDED"]),
    ]);
    expect(answers[0]!.credits).toBe("70");
    expect(answers[1]!.credits).toBe("30");
    expect(answers[2]!.message).toBe("This operation requires 40 credits but your balance is 30");

    // The token survives a reload of the tab; the page shows the account as it is now.
    await page.reload();
    await visible("#account-body");
    expect(await page.locator("#account-summary dd").allInnerTexts()).toEqual(["tight", "30 credits", "3 of 3", "3 of 1,000"]);
    const debit = await page.locator("#ledger-table tbody tr").first().locator("td").allInnerTexts();
    expect(debit.slice(1, 4)).toEqual(["-40", "30", "debit"]);
    expect(debit[4]).toMatch(/^req_[0-9A-Za-z]+$/);
  });

  it("revokes the key after a confirmation naming it (as text); cancelling changes nothing", async () => {
    const revoke = page.locator(`#keys-table tr[data-key-id="${keyId}"] button`);
    await revoke.click();
    await visible("#revoke-dialog");
    expect(await text("#revoke-prefix")).toBe(`tgk_${ACCOUNT}_${keyId}`);
    expect(await text("#revoke-name")).toBe(XSS);
    await page.locator("#revoke-cancel").click();
    await hidden("#revoke-dialog");
    expect((await keyRow(keyId))[5]).toBe("active");
    expect((await admin(gateway, "GET", `/accounts/${ACCOUNT}`)).body.data.keys[0].revoked).toBe(false);

    await revoke.click();
    await visible("#revoke-dialog");
    await page.locator("#revoke-confirm").click();
    await page.waitForFunction((id) => document.querySelector(`#keys-table tr[data-key-id="${id}"] .status`)?.textContent === "revoked", keyId);
    expect(await text("#notice")).toBe(`Revoked key tgk_${ACCOUNT}_${keyId}: it is refused from now on.`);
    expect(await page.locator(`#keys-table tr[data-key-id="${keyId}"] button`).count()).toBe(0);

    const refused = await viaGateway(key, "GET", "/v1/echo");
    expect([refused.status, refused.code, refused.message]).toEqual([401, "UNAUTHORIZED", "Invalid or expired API key"]);
  });

  it("shows the hostile name and reason as characters, never as markup", async () => {
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("#keys-table").innerText()).toContain(XSS);
    expect(await page.locator("#ledger-table").innerText()).toContain(XSS);
    expect(seen.dialogs).toEqual([]);
  });

  it("charts the usage by outcome, with the same numbers as text and by key", async () => {
    await visible("#usage-body");
    expect(await page.locator("#usage-charts h2").innerText()).toBe("Usage");
    // Both charts drawn by uPlot (on a canvas, axes and their labels too), each with its legend.
    for (const chart of ["#requests-chart", "#credits-chart"]) expect(await page.locator(`${chart} canvas`).count()).toBe(1);
    expect(await page.locator("#requests-chart .u-legend .u-series .u-label").allInnerTexts()).toEqual(["Hour (UTC)", "Admitted", "Origin failed", "402 no credits", "403 forbidden", "429 rate limited"]);
    expect(await page.locator("#credits-chart .u-legend .u-series .u-label").allInnerTexts()).toEqual(["Day (UTC)", "Credits spent"]);

    // The charts' text: every outcome of the traffic above, counted once.
    expect(await text("#requests-summary")).toMatch(
      /^The last 48 hours: 3 admitted, 1 failed at the origin and refunded, 2 refused for credits \(402\), 4 forbidden \(403\), 5 rate-limited \(429\)\. Busiest hour: \d{4}-\d{2}-\d{2} \d{2}:00 UTC, \d+ requests\.$/,
    );
    expect(await text("#credits-summary")).toMatch(/^The last 30 days: 40 credits spent; the most on \d{4}-\d{2}-\d{2}, 40\.$/);
    expect(await page.locator(`#usage-keys-table tbody tr[data-key-id="${keyId}"] td`).allInnerTexts()).toEqual([`tgk_${ACCOUNT}_${keyId}`, XSS, "3", "1", "2", "4", "5", "40"]);
    expect(await page.locator("#usage-keys-table tfoot tr > *").allInnerTexts()).toEqual(["All keys", "3", "1", "2", "4", "5", "40"]);

    // The chart's own data: the cursor on this hour's point shows its values in the legend.
    if (trafficHour !== null && trafficHour === Math.floor(Date.now() / 3_600_000)) {
      const over = page.locator("#requests-chart .u-over");
      const plot = await over.boundingBox();
      // The last point is this hour's, at the plot's right edge; hover() scrolls it into view.
      await over.hover({ position: { x: plot!.width - 1, y: plot!.height / 2 } });
      const values = page.locator("#requests-chart .u-legend .u-series .u-value");
      await page.waitForFunction(() => document.querySelector("#requests-chart .u-legend .u-series .u-value")?.textContent?.endsWith(":00") === true);
      const shown = await values.allInnerTexts();
      expect(shown[0]).toBe(`${new Date(trafficHour * 3_600_000).toISOString().slice(0, 13).replace("T", " ")}:00`);
      expect(shown.slice(1)).toEqual(["3", "1", "2", "4", "5"]);
      expect(await text("#requests-summary")).toContain(", 14 requests.");
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-account.png"), fullPage: true });
  });

  it("lists the accounts, searches them by id prefix, and pages through them", async () => {
    // 27 more accounts: more than one page of the dashboard's 25.
    for (let i = 0; i < 27; i++) {
      const created = await admin(gateway, "POST", "/accounts", { id: `dash-page-${String(i).padStart(2, "0")}`, credits: i });
      expect(created.status).toBe(201);
    }
    await page.locator("#back-to-accounts").click();
    await visible("#accounts-view");
    await page.locator("#search").fill("dash-page-");
    // A function, not a string: the page's CSP allows no eval, for the test's scripts either.
    const firstIdIs = (id: string) => page.waitForFunction((wanted) => document.querySelector("#accounts-table tbody td")?.textContent === wanted, id);
    await firstIdIs("dash-page-00");
    expect(page.url()).toBe(`${gateway.url}/_gateway/#/?prefix=dash-page-`);
    const firstPage = await page.locator("#accounts-table tbody tr td:first-child").allInnerTexts();
    expect(firstPage).toEqual(Array.from({ length: 25 }, (_, i) => `dash-page-${String(i).padStart(2, "0")}`));
    expect(await page.locator("#accounts-table tbody tr").nth(3).locator("td").allInnerTexts()).toEqual(["dash-page-03", "default", "3", expect.stringMatching(/UTC$/)]);
    expect(await page.locator("#previous-page").isDisabled()).toBe(true);

    await page.locator("#next-page").click();
    await firstIdIs("dash-page-25");
    expect(await page.locator("#accounts-table tbody tr td:first-child").allInnerTexts()).toEqual(["dash-page-25", "dash-page-26"]);
    expect(await page.locator("#next-page").isDisabled()).toBe(true);
    await page.locator("#previous-page").click();
    await firstIdIs("dash-page-00");
    expect(await page.locator("#accounts-table tbody tr").count()).toBe(25);

    await page.locator("#search").fill("DASH-ACME");
    await firstIdIs(ACCOUNT);
    expect(await page.locator("#accounts-table tbody tr td").allInnerTexts()).toEqual([ACCOUNT, "tight", "30", expect.stringMatching(/UTC$/)]);
    await page.locator("#search").fill("dash_");
    await visible("#search-hint");
    expect(await text("#search-hint")).toBe("Account ids hold only the letters a–z, digits and “-”.");
  });

  it("signs out, forgetting the token", async () => {
    await page.locator("#sign-out").click();
    await visible("#sign-in-view");
    expect((await session()).token).toBeNull();
  });

  it("served every file of the page with the strict headers, made no request but to the gateway, and none failed", async () => {
    const dashboardResponses = seen.responses.filter((r) => DASHBOARD_FILES.includes(new URL(r.url()).pathname));
    expect(new Set(dashboardResponses.map((r) => new URL(r.url()).pathname))).toEqual(new Set(DASHBOARD_FILES));
    for (const response of dashboardResponses) {
      const headers = await response.allHeaders();
      const where = `${response.status()} ${response.url()}`;
      expect(headers["content-security-policy"], where).toMatch(/^default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';/);
      expect(headers["x-frame-options"], where).toBe("DENY");
      expect(headers["x-content-type-options"], where).toBe("nosniff");
    }

    expect(seen.requests.map((r) => new URL(r.url()).origin).filter((o) => o !== gateway.url)).toEqual([]);
    // Data calls only to the admin API, never a proxied path.
    const paths = seen.requests.map((r) => new URL(r.url()).pathname);
    expect(paths.filter((p) => !p.startsWith("/_gateway/"))).toEqual([]);
    expect(seen.failedRequests).toEqual([]);
    expect(seen.pageErrors).toEqual([]);
    // The one error answer the page got was the wrong token's 401 — and the browser's note of it
    // is the one console error.
    const errors = seen.responses.filter((r) => r.status() >= 400).map((r) => `${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    expect(errors).toEqual(["401 GET /_gateway/accounts"]);
    expect(seen.consoleErrors).toEqual([expect.stringMatching(/^Failed to load resource: the server responded with a status of 401 \(Unauthorized\)$/)]);
    // No token ever in a URL.
    expect(seen.requests.filter((r) => r.url().includes(ADMIN_TOKEN) || r.url().includes("not-the-admin-token"))).toEqual([]);
  });
});
