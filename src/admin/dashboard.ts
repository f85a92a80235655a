// The operator dashboard's page and files (SPEC 13) at /_gateway/, /_gateway/ui and
// /_gateway/ui/<file>. They are Workers Static Assets (wrangler.toml [assets], built from
// src/dashboard/ by scripts/build-dashboard.ts), reached through the ASSETS binding only:
// `run_worker_first = true` sends every request to the Worker, so no asset can ever shadow
// a path the gateway proxies. They need no token — they hold no data; every call the page
// makes for data needs the admin token, like any other admin call.
//
// Every answer here — the page, a file, a 304, a 404 — carries the same strict headers: the
// page may load only its own scripts and styles, talk only to this gateway, never be
// framed, and (Trusted Types) cannot even assign HTML to the DOM, so a name or a reason can
// only ever be rendered as text.
import { fail, type RequestContext } from "../context.ts";

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  // The sign-in form is handled in script; should script fail, the browser must not send
  // the token anywhere as a form submission (it would put it in a URL).
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** The page itself, whichever of its addresses was asked for. */
export const DASHBOARD_PAGE = "index.html";

/** What the build writes: flat, lower-case names (app.js, app.css, favicon.svg…). */
const FILE_NAME = /^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9]+)+$/;

/** Answers GET or HEAD for one of the dashboard's files. */
export async function serveDashboard(ctx: RequestContext, file: string): Promise<Response> {
  return withDashboardHeaders(await fetchAsset(ctx, file));
}

async function fetchAsset(ctx: RequestContext, file: string): Promise<Response> {
  if (!FILE_NAME.test(file)) return noSuchFile(ctx, file);
  // Absent when an operator's wrangler.toml lacks [assets]: say so rather than fault.
  const assets = (ctx.env as Partial<Env>).ASSETS;
  if (assets === undefined) {
    ctx.log.error = "dashboard: no ASSETS binding; wrangler.toml needs the [assets] section";
    return fail(ctx, { code: "INTERNAL_ERROR", message: "The dashboard is not installed on this gateway: its wrangler.toml has no [assets] section." });
  }
  const headers = new Headers();
  const etag = ctx.request.headers.get("If-None-Match");
  if (etag !== null) headers.set("If-None-Match", etag);
  // The asset server looks only at the path; the host is a placeholder.
  const answer = await assets.fetch(`https://assets.invalid/${file}`, { method: ctx.request.method, headers });
  if (answer.status === 404) return noSuchFile(ctx, file);
  if (answer.status !== 200 && answer.status !== 304) throw new Error(`the asset server answered ${answer.status} for ${file}`);
  // A fetched response's headers are immutable; this copy's are the gateway's to set.
  return new Response(ctx.request.method === "HEAD" ? null : answer.body, answer);
}

function noSuchFile(ctx: RequestContext, file: string): Response {
  const shown = file.replace(/[^\x20-\x7e]/g, "?").slice(0, 64);
  return fail(ctx, { code: "NOT_FOUND", message: `The dashboard has no file named '${shown}'` });
}

function withDashboardHeaders(response: Response): Response {
  for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) response.headers.set(name, value);
  return response;
}
