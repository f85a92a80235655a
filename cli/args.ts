// The command line, parsed once into a typed Invocation (node:util parseArgs). Only the
// shape is checked here — counts, integers, URLs; what a plan, scope or date may be is
// the gateway's to decide, so its answer stays the single source of truth.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";
export const DEFAULT_TIMEOUT_MS = 10_000;
/** `usage --days`: a week by default; a month at most (the gateway answers 31 days a call). */
export const DEFAULT_USAGE_DAYS = 7;
export const MAX_USAGE_DAYS = 31;

export type Command =
  | { name: "accounts list"; prefix?: string; limit?: number; cursor?: string; all: boolean }
  | { name: "accounts create"; id: string; plan?: string; credits?: number }
  | { name: "accounts show"; id: string }
  | { name: "accounts set-plan"; id: string; plan: string }
  | { name: "credits add"; id: string; amount: number; reason?: string }
  | { name: "keys create"; account: string; scopes: string[]; keyName?: string; expiresAt?: string }
  | { name: "keys list"; account: string }
  | { name: "keys revoke"; account: string; keyId: string }
  | { name: "usage"; account: string; days: number }
  | { name: "health" }
  | { name: "help" };

export interface Invocation {
  command: Command;
  url: string;
  /** null when neither --token nor TOLLGATE_ADMIN_TOKEN is given (health needs none). */
  token: string | null;
  json: boolean;
  timeoutMs: number;
}

const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
  plan: { type: "string" },
  credits: { type: "string" },
  reason: { type: "string" },
  scopes: { type: "string" },
  name: { type: "string" },
  "expires-at": { type: "string" },
  prefix: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  all: { type: "boolean" },
  days: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

const GLOBAL_OPTIONS: readonly OptionName[] = ["url", "token", "json", "timeout", "help"];

/** Each command: its positionals, in order, and the options it accepts besides the global ones. */
const COMMANDS: Record<Exclude<Command["name"], "help">, { positionals: string[]; options: OptionName[] }> = {
  "accounts list": { positionals: [], options: ["prefix", "limit", "cursor", "all"] },
  "accounts create": { positionals: ["id"], options: ["plan", "credits"] },
  "accounts show": { positionals: ["id"], options: [] },
  "accounts set-plan": { positionals: ["id", "plan"], options: [] },
  "credits add": { positionals: ["id", "amount"], options: ["reason"] },
  "keys create": { positionals: ["account"], options: ["scopes", "name", "expires-at"] },
  "keys list": { positionals: ["account"], options: [] },
  "keys revoke": { positionals: ["account", "key_id"], options: [] },
  usage: { positionals: ["account"], options: ["days"] },
  health: { positionals: [], options: [] },
};

/** Commands of one word; every other command is a group and an action. */
const ONE_WORD = new Set(["health", "usage"]);

// parseArgs reads "-50" as the short options -5 and -0; negative amounts are hidden from it
// behind this marker and restored afterwards.
const NEGATIVE_MARK = "\u0000negative:";

export function parseInvocation(argv: readonly string[], env: Record<string, string | undefined>): Invocation {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv.map((arg) => (/^-\d/.test(arg) ? NEGATIVE_MARK + arg : arg)),
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] };
  } catch (error) {
    // parseArgs explains at length how to pass "--" arguments; its first sentence is the point.
    const message = restore(error instanceof Error ? error.message : String(error));
    throw new UsageError(message.split(/\.\s/)[0]!.replace(/\.$/, ""));
  }
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([name, value]) => [name, typeof value === "string" ? restore(value) : value]),
  ) as Values;
  const positionals = parsed.positionals.map(restore);

  const command = values.help === true ? ({ name: "help" } as const) : parseCommand(positionals, values);
  const url = values.url ?? nonEmpty(env.TOLLGATE_URL) ?? DEFAULT_URL;
  return {
    command,
    // Help must work whatever else is wrong with the command line.
    url: command.name === "help" ? url : parseUrl(url),
    token: nonEmpty(values.token) ?? nonEmpty(env.TOLLGATE_ADMIN_TOKEN) ?? null,
    json: values.json === true,
    timeoutMs: values.timeout === undefined ? DEFAULT_TIMEOUT_MS : positiveInteger(values.timeout, "--timeout"),
  };
}

function parseCommand(positionals: string[], values: Values): Command {
  const [group, action] = positionals;
  if (group === undefined) throw new UsageError("missing command");
  if (group === "help") return { name: "help" };
  const name = ONE_WORD.has(group) ? group : `${group} ${action ?? ""}`.trim();
  const spec = (COMMANDS as Record<string, (typeof COMMANDS)[keyof typeof COMMANDS] | undefined>)[name];
  if (spec === undefined) throw new UsageError(unknownCommand(group, action));

  const args = positionals.slice(name.split(" ").length);
  if (args.length < spec.positionals.length) {
    throw new UsageError(`'${name}' needs <${spec.positionals[args.length]}>`);
  }
  if (args.length > spec.positionals.length) throw new UsageError(`'${name}' got an unexpected argument '${args[spec.positionals.length]}'`);
  for (const option of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(option) && !spec.options.includes(option)) {
      throw new UsageError(`'${name}' does not take --${option}`);
    }
  }
  const at = (i: number) => args[i] as string;

  switch (name) {
    case "accounts list":
      if (values.all === true && values.cursor !== undefined) throw new UsageError("'accounts list' takes --all or --cursor, not both");
      return {
        name,
        all: values.all === true,
        ...(values.prefix !== undefined && { prefix: values.prefix }),
        ...(values.limit !== undefined && { limit: positiveInteger(values.limit, "--limit") }),
        ...(values.cursor !== undefined && { cursor: values.cursor }),
      };
    case "accounts create":
      return {
        name,
        id: at(0),
        ...(values.plan !== undefined && { plan: values.plan }),
        ...(values.credits !== undefined && { credits: integer(values.credits, "--credits") }),
      };
    case "accounts show":
      return { name, id: at(0) };
    case "accounts set-plan":
      return { name, id: at(0), plan: at(1) };
    case "credits add":
      return { name, id: at(0), amount: integer(at(1), "<amount>"), ...(values.reason !== undefined && { reason: values.reason }) };
    case "keys create":
      return {
        name,
        account: at(0),
        scopes: parseScopes(values.scopes),
        ...(values.name !== undefined && { keyName: values.name }),
        ...(values["expires-at"] !== undefined && { expiresAt: values["expires-at"] }),
      };
    case "keys list":
      return { name, account: at(0) };
    case "keys revoke":
      return { name, account: at(0), keyId: at(1) };
    case "usage": {
      const days = values.days === undefined ? DEFAULT_USAGE_DAYS : positiveInteger(values.days, "--days");
      if (days > MAX_USAGE_DAYS) throw new UsageError(`--days must be at most ${MAX_USAGE_DAYS}, got '${values.days}'`);
      return { name, account: at(0), days };
    }
    default:
      return { name: "health" };
  }
}

function unknownCommand(group: string, action: string | undefined): string {
  const actions = Object.keys(COMMANDS)
    .filter((name) => name.startsWith(`${group} `))
    .map((name) => name.slice(group.length + 1));
  if (actions.length === 0) return `unknown command '${group}'`;
  if (action === undefined) return `'${group}' needs a subcommand: ${actions.join(", ")}`;
  return `unknown command '${group} ${action}'; '${group}' has: ${actions.join(", ")}`;
}

function parseScopes(raw: string | undefined): string[] {
  const scopes = (raw ?? "")
    .split(",")
    .map((scope) => scope.trim())
    .filter((scope) => scope !== "");
  if (scopes.length === 0) throw new UsageError("'keys create' needs --scopes, e.g. --scopes read,write");
  return scopes;
}

function integer(text: string, what: string): number {
  const value = Number(text);
  if (!/^[+-]?\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new UsageError(`${what} must be a whole number, got '${text}'`);
  return value;
}

function positiveInteger(text: string, what: string): number {
  const value = integer(text, what);
  if (value <= 0) throw new UsageError(`${what} must be positive, got '${text}'`);
  return value;
}

function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`the gateway URL '${text}' is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`the gateway URL '${text}' must start with http:// or https://`);
  return url.href.replace(/\/+$/, "");
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === "" ? undefined : text.trim();
}

function restore(text: string): string {
  return text.replaceAll(NEGATIVE_MARK, "");
}
