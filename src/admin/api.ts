// The gateway's own endpoints under /_gateway/ (SPEC section 7), routed with itty-router.
// Health is open; everything else needs the admin token, compared in constant time, and
// wrong tokens count as failed authentications for the client's address.
import { Router, type IRequest } from "itty-router";
import type { AdminResult } from "../account/types.ts";
import { accountStub } from "../account/stub.ts";
import { authFailure, bearerToken, clientAddress, throttled } from "../authenticate.ts";
import { fail, type RequestContext } from "../context.ts";
import { GatewayError, successResponse, type ErrorSpec } from "../envelope.ts";
import { ACCOUNT_ID_PATTERN, KEY_ID_PATTERN, hashKey, mintKey } from "../keys.ts";
import { tokensEqual } from "../secrets.ts";
import { directoryStub } from "../directory/stub.ts";
import { ignoringCase } from "../routes.ts";
import type { Health } from "../upstream/health.ts";
import { upstreamsHealth } from "../upstream/upstreams.ts";
import { MAX_BODY_BYTES, adjustCreditsBody, createAccountBody, createKeyBody, parseBody, updateAccountBody } from "./bodies.ts";
import { DASHBOARD_PAGE, serveDashboard } from "./dashboard.ts";
import { ensureListed, listAccounts } from "./list-accounts.ts";
import { accountUsage } from "./usage.ts";

type AdminRequest = IRequest & { ctx: RequestContext };

const router = Router<AdminRequest, []>({ base: "/_gateway" });

router
  .get("/health", ({ ctx }) => ok(ctx, health(ctx)))
  .head("/health", ({ ctx }) => ok(ctx, health(ctx)))
  // The dashboard's page and files are open (SPEC 13); its data calls are not.
  .get("/", ({ ctx }) => serveDashboard(ctx, DASHBOARD_PAGE))
  .head("/", ({ ctx }) => serveDashboard(ctx, DASHBOARD_PAGE))
  .get("/ui", ({ ctx }) => serveDashboard(ctx, DASHBOARD_PAGE))
  .head("/ui", ({ ctx }) => serveDashboard(ctx, DASHBOARD_PAGE))
  .get("/ui/:file", ({ ctx, params }) => serveDashboard(ctx, params.file ?? ""))
  .head("/ui/:file", ({ ctx, params }) => serveDashboard(ctx, params.file ?? ""))
  .all("*", requireAdmin)
  .get("/accounts", async ({ ctx }) => ok(ctx, await listAccounts(ctx)))
  .post("/accounts", async ({ ctx }) => {
    const body = await readBody(ctx, createAccountBody(Object.keys(ctx.config.plans)));
    // Listed before it exists, never the other way round (src/directory/directory-do.ts).
    // A repeat after a failure, or for an account older than the directory, lists it too.
    await directoryStub(ctx.env).register(body.id);
    const result = await accountStub(ctx.env, body.id).createAccount({
      id: body.id,
      plan: body.plan ?? "default",
      credits: body.credits ?? 0,
    });
    return answer(ctx, result, 201, { exists: `Account '${body.id}' already exists` });
  })
  .get("/accounts/:id", async ({ ctx, params }) => {
    const id = accountId(params.id);
    const view = await accountStub(ctx.env, id).getAccount();
    if (view === null) throw notFound(`Account '${id}' does not exist`);
    await ensureListed(ctx, id);
    return ok(ctx, view);
  })
  .get("/accounts/:id/usage", async ({ ctx, params }) => ok(ctx, await accountUsage(ctx, accountId(params.id))))
  .patch("/accounts/:id", async ({ ctx, params }) => {
    const id = accountId(params.id);
    const body = await readBody(ctx, updateAccountBody(Object.keys(ctx.config.plans)));
    const result = await accountStub(ctx.env, id).updateAccount({ plan: body.plan! });
    return answer(ctx, result, 200, { not_found: `Account '${id}' does not exist` });
  })
  .post("/accounts/:id/credits", async ({ ctx, params }) => {
    const id = accountId(params.id);
    const body = await readBody(ctx, adjustCreditsBody);
    const result = await accountStub(ctx.env, id).adjustCredits({ amount: body.amount, reason: body.reason ?? "adjustment" });
    return answer(ctx, result, 200, {
      not_found: `Account '${id}' does not exist`,
      negative_balance: `An adjustment of ${body.amount} would take the balance of ${result.ok ? 0 : result.balance} below 0`,
      balance_overflow: `An adjustment of ${body.amount} would take the balance of ${result.ok ? 0 : result.balance} above ${Number.MAX_SAFE_INTEGER}`,
    });
  })
  .post("/accounts/:id/keys", async ({ ctx, params }) => {
    const id = accountId(params.id);
    const body = await readBody(ctx, createKeyBody(Date.now()));
    const minted = mintKey(id);
    const result = await accountStub(ctx.env, id).createKey({
      keyId: minted.keyId,
      hash: await hashKey(minted.key),
      prefix: minted.prefix,
      scopes: body.scopes,
      name: body.name ?? null,
      expiresAt: body.expires_at ?? null,
    });
    if (!result.ok) throw notFound(`Account '${id}' does not exist`);
    // The only time the key itself is ever shown.
    const { revoked: _revoked, ...view } = result.value;
    return ok(ctx, { key: minted.key, ...view }, 201);
  })
  .delete("/accounts/:id/keys/:keyId", async ({ ctx, params }) => {
    const id = accountId(params.id);
    const keyId = params.keyId ?? "";
    if (!KEY_ID_PATTERN.test(keyId)) throw notFound(`Key '${shortId(keyId)}' does not exist`);
    const result = await accountStub(ctx.env, id).revokeKey(keyId);
    return answer(ctx, result, 200, { not_found: `Key '${keyId}' of account '${id}' does not exist` });
  })
  .all("*", ({ ctx, method }) => {
    throw notFound(`No gateway endpoint matches ${method} ${ctx.path.slice(0, 120)}`);
  });

// SPEC 10: the admin API's paths compare like the routes', without regard to letter case.
for (const route of router.routes) route[1] = ignoringCase(route[1]);

export async function handleAdmin(ctx: RequestContext): Promise<Response> {
  // itty-router dispatches on the canonical path (SPEC 10), not the one the client spelled;
  // handlers read the request itself through the context that rides along.
  const dispatch = { method: ctx.request.method, url: `${ctx.url.origin}${ctx.path}${ctx.url.search}`, ctx } as unknown as AdminRequest;
  try {
    const response = (await router.fetch(dispatch)) as Response | undefined;
    return response ?? fail(ctx, { code: "NOT_FOUND", message: "No such gateway endpoint" });
  } catch (error) {
    if (error instanceof GatewayError) return fail(ctx, error.spec);
    throw error;
  }
}

/** SPEC 7 and 12: the gateway answers, and each upstream's breaker as this isolate sees it. */
function health(ctx: RequestContext): Health {
  return { status: "ok", upstreams: upstreamsHealth(ctx.config) };
}

/** Runs before every endpoint but health; returns nothing to let the request through. */
async function requireAdmin({ ctx }: AdminRequest): Promise<Response | undefined> {
  const now = Date.now();
  const address = clientAddress(ctx.request.headers);
  const blocked = throttled(ctx.config, address, now);
  if (blocked !== null) return fail(ctx, blocked);
  const expected = ctx.config.adminToken;
  const presented = bearerToken(ctx.request.headers);
  if (expected === null) {
    return fail(ctx, authFailure(ctx.config, address, now, "The admin API is disabled: the ADMIN_TOKEN secret is not set"));
  }
  if (presented === null) {
    return fail(ctx, authFailure(ctx.config, address, now, "Missing admin token: send 'Authorization: Bearer <ADMIN_TOKEN>'"));
  }
  if (!(await tokensEqual(presented, expected))) {
    return fail(ctx, authFailure(ctx.config, address, now, "Invalid admin token"));
  }
  return undefined;
}

function ok(ctx: RequestContext, data: unknown, status = 200): Response {
  return successResponse(data, status, { requestId: ctx.requestId, now: Date.now(), method: ctx.request.method });
}

type AdminError = Extract<AdminResult<unknown>, { ok: false }>["error"];

const ERROR_CODES: Record<AdminError, ErrorSpec["code"]> = {
  not_found: "NOT_FOUND",
  exists: "CONFLICT",
  negative_balance: "CONFLICT",
  balance_overflow: "CONFLICT",
};

function answer<T>(ctx: RequestContext, result: AdminResult<T>, status: number, messages: Partial<Record<AdminError, string>>): Response {
  if (result.ok) return ok(ctx, result.value, status);
  return fail(ctx, { code: ERROR_CODES[result.error], message: messages[result.error] ?? "The operation failed" });
}

/** An account id in a path that does not match the pattern is simply not found. */
function accountId(raw: string | undefined): string {
  const id = decodeURIComponentSafe(raw ?? "");
  if (!ACCOUNT_ID_PATTERN.test(id)) throw notFound(`Account '${shortId(id)}' does not exist`);
  return id;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function shortId(id: string): string {
  const printable = id.replace(/[^\x20-\x7e]/g, "?");
  return printable.length <= 64 ? printable : `${printable.slice(0, 64)}…`;
}

function notFound(message: string): GatewayError {
  return new GatewayError({ code: "NOT_FOUND", message });
}

async function readBody<S extends Parameters<typeof parseBody>[0]>(ctx: RequestContext, schema: S) {
  const declared = Number(ctx.request.headers.get("Content-Length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new GatewayError({ code: "VALIDATION_ERROR", message: `The request body must be at most ${MAX_BODY_BYTES} bytes.` });
  const text = await ctx.request.text();
  if (text.length > MAX_BODY_BYTES) throw new GatewayError({ code: "VALIDATION_ERROR", message: `The request body must be at most ${MAX_BODY_BYTES} bytes.` });
  const parsed = parseBody(schema, text);
  if (!parsed.ok) throw new GatewayError({ code: "VALIDATION_ERROR", message: parsed.message });
  return parsed.value;
}
