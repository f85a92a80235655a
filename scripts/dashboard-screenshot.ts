// Takes the README's screenshot of the dashboard (docs/dashboard.png): a real gateway
// (`wrangler dev`) in front of the test origin, an account with keys, credit movements and
// some traffic of every outcome the usage charts show, and the account page in headless
// Chromium. The traffic is real and sent now, so the charts show it in the current hour and day. Run it again when the page changes:
//
//   npx node scripts/dashboard-screenshot.ts [out.png]     (npx: wrangler needs the project's Node 22 on PATH)
import { resolve } from "node:path";
import { buildDashboard } from "./build-dashboard.ts";
import { launchChromium } from "../test/support/chromium.ts";
import { ADMIN_TOKEN, ROOT, admin, startGateway } from "../test/support/gateway.ts";
import { startOrigin } from "../test/support/origin.ts";

const out = resolve(process.argv[2] ?? `${ROOT}/docs/dashboard.png`);

async function must(call: Promise<{ status: number; body: any }>): Promise<any> {
  const answer = await call;
  if (answer.status >= 300) throw new Error(`admin call failed: ${JSON.stringify(answer.body)}`);
  return answer.body.data;
}

await buildDashboard();
const origin = await startOrigin();
const gateway = await startGateway({
  vars: {
    UPSTREAM_URL: origin.url,
    PLANS: { default: { per_minute: 60, per_day: 1000 }, starter: { per_minute: 20, per_day: 1000 } },
    ROUTES: [{ method: "POST", path: "/v1/content/*", credits: 40 }, { path: "/v1/*" }],
  },
});
const browser = await launchChromium();
try {
  for (const id of ["acme", "globex", "initech", "umbrella"]) await must(admin(gateway, "POST", "/accounts", { id, plan: id === "acme" ? "starter" : "default", credits: 100 }));
  await must(admin(gateway, "POST", "/accounts/acme/credits", { amount: 100, reason: "invoice 1042" }));
  const ci = await must(admin(gateway, "POST", "/accounts/acme/keys", { scopes: ["read", "write"], name: "ci" }));
  const app = await must(admin(gateway, "POST", "/accounts/acme/keys", { scopes: ["read"], name: "mobile app", expires_at: "2027-06-30T00:00:00Z" }));
  const old = await must(admin(gateway, "POST", "/accounts/acme/keys", { scopes: ["*"], name: "laptop (leaked)" }));
  await must(admin(gateway, "DELETE", `/accounts/acme/keys/${old.id}`));
  // starter allows 20 a minute; 200 credits pay for 5 generations.
  const traffic: [key: string, method: string, path: string, times: number][] = [
    [ci.key, "POST", "/v1/content/status/500", 3], // admitted, the origin fails: refunded
    [ci.key, "POST", "/v1/content/generate", 8], // 5 paid, then 3 × 402
    [app.key, "POST", "/v1/content/generate", 2], // 403: the app only reads
    [ci.key, "GET", "/v1/posts", 9],
    [app.key, "GET", "/v1/posts", 6], // 3 admitted, then 3 × 429
  ];
  for (const [key, method, path, times] of traffic) {
    for (let i = 0; i < times; i++) {
      const res = await fetch(`${gateway.url}${path}`, { method, headers: { Authorization: `Bearer ${key}` } });
      await res.body?.cancel();
    }
  }

  const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  await page.goto(`${gateway.url}/_gateway/#/accounts/acme`);
  await page.locator("#token").fill(ADMIN_TOKEN);
  await page.locator("#token").press("Enter");
  await page.locator("#account-body").waitFor({ state: "visible" });
  await page.locator("#usage-body").waitFor({ state: "visible" });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await gateway.stop();
  await origin.close();
}
