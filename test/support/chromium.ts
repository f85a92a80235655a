// Headless Chromium for the browser tests: Debian's package, driven by playwright-core.
// (test/e2e/browser.test.ts predates this file and keeps its own copy of these settings.)
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's package (`apt-get install -y chromium`); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export const MISSING_CHROMIUM = `The browser tests need Chromium at ${CHROMIUM}, which is missing. Install it with: apt-get update && apt-get install -y chromium`;

/** The browser, or a failure that says what to install: a missing browser fails the tests, never skips them. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING_CHROMIUM);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
