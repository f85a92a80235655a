// Starts the test origin on 127.0.0.1 for the tests that run inside workerd, and hands
// its port to the Worker's configuration (vitest.config.ts) and to the tests.
import type { TestProject } from "vitest/node";
import { startOrigin } from "../support/origin.ts";

declare module "vitest" {
  export interface ProvidedContext {
    originPort: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const origin = await startOrigin();
  project.provide("originPort", origin.port);
  return () => origin.close();
}
