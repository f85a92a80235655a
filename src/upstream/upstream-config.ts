// The upstreams of a configuration (SPEC section 12): UPSTREAM_URL as `default` and each
// `[vars.UPSTREAMS.<name>]`, resolved against the routes that name them and the secrets
// that hold their tokens. Pure; config.ts validates each table's fields first.

/** The name UPSTREAM_URL goes by in the health endpoint and the log line; no upstream may take it. */
export const DEFAULT_UPSTREAM = "default";
/** An upstream's name: it appears in the log and the health endpoint, so nothing odd. */
export const UPSTREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Bounds of a breaker's settings: past these it would open never, or stay open for good. */
export const MAX_BREAKER_FAILURES = 1_000;
export const MAX_BREAKER_OPEN_SECONDS = 3_600;

/** The secret that may be shared: naming UPSTREAM_TOKEN sends the default upstream's token on purpose. */
const SHAREABLE_SECRET = "UPSTREAM_TOKEN";

export interface BreakerTable {
  failures: number;
  open_seconds: number;
}

export interface UpstreamTable {
  url: string;
  timeout_ms?: number | undefined;
  token_secret?: string | undefined;
  breaker?: BreakerTable | undefined;
}

/** The vars this module reads, as config.ts's schema produced them. */
export interface UpstreamVars {
  UPSTREAM_URL: string;
  UPSTREAM_TIMEOUT_MS: number;
  UPSTREAM_TOKEN?: string | undefined;
  UPSTREAM_BREAKER?: BreakerTable | undefined;
  UPSTREAMS?: Record<string, UpstreamTable> | undefined;
  ROUTES?: readonly { upstream?: string | undefined }[] | undefined;
}

export interface Upstream {
  /** `default` for UPSTREAM_URL, else its name in UPSTREAMS. */
  name: string;
  /** Its path is kept as a prefix of every forwarded path. */
  url: URL;
  /** For its routes that set no timeout_ms of their own. */
  timeoutMs: number;
  /** Sent as `Authorization: Bearer`; null: the origin gets no Authorization at all. */
  token: string | null;
  /** The secret `token` came from (UPSTREAM_TOKEN for the default), for messages. */
  tokenSecret: string | null;
  /** null: no breaker, every call goes through (SPEC 6). */
  breaker: { failures: number; openSeconds: number } | null;
}

export interface ResolveOptions {
  /** Every var the configuration reads: a token_secret may not name one (but UPSTREAM_TOKEN). */
  configNames: readonly string[];
  /** "unseen": a token_secret whose secret is not in env gets no token instead of a refusal. */
  unsetTokenSecrets: "refuse" | "unseen";
}

export type Resolved = { ok: true; upstreams: Map<string, Upstream> } | { ok: false; problems: string[] };

export function resolveUpstreams(vars: UpstreamVars, env: Record<string, unknown>, options: ResolveOptions): Resolved {
  const problems: string[] = [];
  const defaultToken = vars.UPSTREAM_TOKEN === undefined || vars.UPSTREAM_TOKEN === "" ? null : vars.UPSTREAM_TOKEN;
  const upstreams = new Map<string, Upstream>([
    [
      DEFAULT_UPSTREAM,
      {
        name: DEFAULT_UPSTREAM,
        url: new URL(vars.UPSTREAM_URL),
        timeoutMs: vars.UPSTREAM_TIMEOUT_MS,
        token: defaultToken,
        tokenSecret: defaultToken === null ? null : SHAREABLE_SECRET,
        breaker: breakerOf(vars.UPSTREAM_BREAKER),
      },
    ],
  ]);

  for (const [name, table] of Object.entries(vars.UPSTREAMS ?? {})) {
    const field = `UPSTREAMS.${name}.token_secret`;
    let token: string | null = null;
    const secret = table.token_secret;
    if (secret !== undefined) {
      const value = Object.hasOwn(env, secret) ? env[secret] : undefined;
      if (secret !== SHAREABLE_SECRET && options.configNames.includes(secret)) {
        problems.push(`${field}: cannot be ${secret}, which the gateway itself reads: name a secret of this upstream's own, such as ${suggestedSecret(name)}`);
      } else if (value === undefined || value === "") {
        if (options.unsetTokenSecrets === "refuse") {
          problems.push(`${field}: the secret ${secret} is not set: set it with \`wrangler secret put ${secret}\`, or in .dev.vars locally`);
        }
      } else if (typeof value !== "string") {
        problems.push(`${field}: ${secret} is not a secret: a secret is a string, and ${secret} is a binding or a table`);
      } else {
        token = value;
      }
    }
    upstreams.set(name, {
      name,
      url: new URL(table.url),
      timeoutMs: table.timeout_ms ?? vars.UPSTREAM_TIMEOUT_MS,
      token,
      tokenSecret: secret ?? null,
      breaker: breakerOf(table.breaker),
    });
  }

  for (const [index, route] of (vars.ROUTES ?? []).entries()) {
    if (route.upstream === undefined || (route.upstream !== DEFAULT_UPSTREAM && upstreams.has(route.upstream))) continue;
    const named = [...upstreams.keys()].filter((name) => name !== DEFAULT_UPSTREAM);
    const known = named.length === 0 ? "there is no [vars.UPSTREAMS.<name>]" : `UPSTREAMS has ${named.join(", ")}`;
    problems.push(`ROUTES[${index}].upstream: no upstream is named '${route.upstream}' (${known}): leave upstream out to send the route to UPSTREAM_URL`);
  }

  return problems.length > 0 ? { ok: false, problems } : { ok: true, upstreams };
}

function breakerOf(table: BreakerTable | undefined): Upstream["breaker"] {
  return table === undefined ? null : { failures: table.failures, openSeconds: table.open_seconds };
}

function suggestedSecret(name: string): string {
  return `${name.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_TOKEN`;
}
