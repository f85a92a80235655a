// How four families of origin servers turn a raw request target into the path they route on,
// and which handler of an app that path then reaches — so a test can ask, for what an origin
// really received on the wire, "which handler would nginx / Go / Tomcat / Express run?".
//
// Each mode is the most lenient reading of its family that real deployments show (where a
// server can be configured to refuse something — Tomcat's encoded slashes, Go's redirect to
// the cleaned path — the mode takes the configuration that refuses less): the gateway must be
// safe in front of all of them.
//
//   nginx    decodes every %XX (%2F too), then merges slashes and resolves dot segments
//            ($uri, what `location` matches)
//   go       net/http: url.PathUnescape (%2F too), then path.Clean — as a mux that routes on
//            the cleaned path without redirecting first
//   tomcat   strips `;params` from every raw segment, decodes (%2F allowed), reads `\` as `/`,
//            then merges slashes and resolves dot segments (CoyoteAdapter's order)
//   express  routes on the raw pathname (no decoding, no normalization) without regard to case
//            and with an optional trailing slash (Express's defaults; ASP.NET also ignores case)

export const ROUTING_MODES = ["nginx", "go", "tomcat", "express"] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** One handler of the origin's app: `/v1/admin-only`, `/v1/users/:id/keys`, `/v1/*`; first match wins. */
export interface OriginHandler {
  name: string;
  pattern: string;
}

/** What the mode answered: a handler's name, NO_HANDLER (its 404), or REFUSED (its 400). */
export const NO_HANDLER = "(none)";
export const REFUSED = "(refused)";

/** The path `mode` routes on for this raw request target, or null when it refuses the request. */
export function routedPath(mode: RoutingMode, target: string): string | null {
  const rawPath = target.split(/[?#]/, 1)[0] ?? "";
  switch (mode) {
    case "nginx": {
      const decoded = percentDecode(rawPath);
      return decoded === null ? null : resolveDots(decoded, false);
    }
    case "go": {
      const decoded = percentDecode(rawPath);
      return decoded === null ? null : resolveDots(decoded, true);
    }
    case "tomcat": {
      const withoutParameters = rawPath.replace(/;[^/]*/g, "");
      const decoded = percentDecode(withoutParameters);
      return decoded === null ? null : resolveDots(decoded.replaceAll("\\", "/"), false);
    }
    case "express":
      return rawPath;
  }
}

/** The handler `mode` runs for this raw request target. */
export function reachedHandler(mode: RoutingMode, target: string, handlers: readonly OriginHandler[]): string {
  const path = routedPath(mode, target);
  if (path === null) return REFUSED;
  const ignoreCase = mode === "express";
  for (const handler of handlers) if (patternMatches(handler.pattern, path, ignoreCase)) return handler.name;
  return NO_HANDLER;
}

/** The handler every mode runs, by mode. */
export function reachedHandlers(target: string, handlers: readonly OriginHandler[]): Record<RoutingMode, string> {
  const reached = {} as Record<RoutingMode, string>;
  for (const mode of ROUTING_MODES) reached[mode] = reachedHandler(mode, target, handlers);
  return reached;
}

/** Segment by segment: literals (optionally without case), `:param` (non-empty), trailing `*`; a trailing slash is optional. */
function patternMatches(pattern: string, path: string, ignoreCase: boolean): boolean {
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const want = pattern.slice(1).split("/");
  const have = path.slice(1).split("/");
  if (have.length > 1 && have.at(-1) === "") have.pop();
  const wildcard = want.at(-1) === "*";
  const fixed = wildcard ? want.slice(0, -1) : want;
  if (wildcard ? have.length < fixed.length : have.length !== fixed.length) return false;
  return fixed.every((segment, i) => (segment.startsWith(":") ? (have[i] ?? "") !== "" : fold(segment) === fold(have[i] ?? "")));
}

/** Every %XX decoded (as bytes, then read as UTF-8 where it can be); null for an invalid escape. */
function percentDecode(path: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const char = path[i]!;
    if (char === "%") {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(char, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * Merges slashes and resolves `.` and `..` (RFC 3986 §5.2.4). `goClean`: as net/http's
 * cleanPath, whose result ends in `/` only when the request's path did.
 */
function resolveDots(path: string, goClean: boolean): string {
  const out: string[] = [];
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  const last = segments.at(-1);
  const trailing = goClean ? path.endsWith("/") : last === "" || last === "." || last === "..";
  return out.length === 0 ? "/" : `/${out.join("/")}${trailing ? "/" : ""}`;
}
