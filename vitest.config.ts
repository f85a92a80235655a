// Three levels of tests (DESIGN.md): pure logic on Node, the Worker inside workerd
// (Cloudflare's Vitest integration), and end to end against real processes on 127.0.0.1.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: "test-results.json" }]],
    // The gateway's one JSON line per request (inside workerd) would bury the report; tests
    // read responses, not logs (the e2e tests read wrangler's own output instead).
    onConsoleLog: (log) => !log.startsWith('{"request_id"'),
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./test/worker/wrangler.test.toml" },
            miniflare: {
              bindings: {
                UPSTREAM_URL: `http://127.0.0.1:${inject<number>("originPort")}`,
                ADMIN_TOKEN: "test-admin-token-4f9c2a7e81b3d605e7c9", // test/worker/helpers.ts ADMIN_TOKEN
                UPSTREAM_TOKEN: "test-upstream-token",
              },
            },
          })),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          globalSetup: ["test/support/dashboard-build.ts", "test/worker/global-setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/support/dashboard-build.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file starts its own gateway process; two cores run two at a time.
          maxWorkers: 2,
          // Tests read the Durable Objects' SQLite files with node:sqlite, which Node 22 still
          // calls experimental, in a warning per process that says nothing about the tests.
          execArgv: ["--disable-warning=ExperimentalWarning"],
        },
      },
    ],
  },
});
