// Vitest global setup: builds the dashboard's files once before a test project starts, as
// wrangler.toml's [build] does before `wrangler dev` and `wrangler deploy`. The generated
// e2e configurations and test/worker/wrangler.test.toml serve build/dashboard/ as assets.
import { buildDashboard } from "../../scripts/build-dashboard.ts";

export default async function setup(): Promise<void> {
  await buildDashboard();
}
