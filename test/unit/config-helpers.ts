// parseConfig's two answers, for the configuration tests: the parsed configuration, or the
// error a refused one names.
import { parseConfig, type Config } from "../../src/config.ts";

export const base = { UPSTREAM_URL: "https://origin.example.com" };

export function ok(env: Record<string, unknown>): Config {
  const result = parseConfig(env);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

export function error(env: Record<string, unknown>): string {
  const result = parseConfig(env);
  if (result.ok) throw new Error("expected the configuration to be refused");
  return result.error;
}
