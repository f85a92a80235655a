// Before the tests: the browser test (test/e2e/browser.test.ts) drives a real Chromium.
// Playwright cannot download its own browser here, so Debian's package is used: installed
// with apt-get when it is missing and we may (root on a Debian-like system). Otherwise it
// says what to do, and the browser test fails with the same words.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function hasAptGet(): boolean {
  return spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (existsSync(CHROMIUM_PATH)) process.exit(0);
  if (process.getuid?.() === 0 && hasAptGet()) {
    console.log(`Chromium is not at ${CHROMIUM_PATH}: installing Debian's chromium package for the browser test…`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env });
  } else {
    console.warn(`Chromium is not at ${CHROMIUM_PATH} and cannot be installed from here: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH. The browser test will fail until then.`);
  }
}
