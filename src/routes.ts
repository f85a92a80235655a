// The route table (SPEC sections 3 and 8): compiled once, matched first-wins per request.
// Patterns are itty-router's own — we let itty-router compile them, so `/v1/posts/:id` and
// `/v1/*` mean exactly what they mean in itty-router, and match synchronously here.
import { IttyRouter } from "itty-router";

export interface RouteSpec {
  method?: string | undefined;
  path: string;
  scope?: string | undefined;
  credits?: number | undefined;
  timeout_ms?: number | undefined;
  public?: boolean | undefined;
}

export interface CompiledRoute {
  /** null: any method. */
  method: string | null;
  path: string;
  /** null: the default for the request's method (see requiredScope). */
  scope: string | null;
  credits: number;
  timeoutMs: number;
  public: boolean;
  pattern: RegExp;
}

export interface RouteMatch {
  route: CompiledRoute;
  /** The scope this request needs on this route. */
  scope: string;
}

export function compileRoutes(specs: readonly RouteSpec[], defaultTimeoutMs: number): CompiledRoute[] {
  return specs.map((spec) => {
    const router = IttyRouter();
    router.all(spec.path);
    const pattern = router.routes[0]?.[1];
    if (!(pattern instanceof RegExp)) throw new Error(`itty-router did not compile ${spec.path}`);
    return {
      method: spec.method?.toUpperCase() ?? null,
      path: spec.path,
      scope: spec.scope ?? null,
      credits: spec.public ? 0 : (spec.credits ?? 0),
      timeoutMs: spec.timeout_ms ?? defaultTimeoutMs,
      public: spec.public ?? false,
      pattern,
    };
  });
}

/** First match wins. A route for GET also serves HEAD. */
export function matchRoute(routes: readonly CompiledRoute[], method: string, pathname: string): RouteMatch | null {
  for (const route of routes) {
    if (!methodMatches(route.method, method)) continue;
    if (!route.pattern.test(pathname)) continue;
    return { route, scope: route.scope ?? defaultScope(method) };
  }
  return null;
}

function methodMatches(routeMethod: string | null, method: string): boolean {
  return routeMethod === null || routeMethod === method || (routeMethod === "GET" && method === "HEAD");
}

/** SPEC 3: `read` for GET, HEAD and OPTIONS, `write` for every other method. */
export function defaultScope(method: string): string {
  return method === "GET" || method === "HEAD" || method === "OPTIONS" ? "read" : "write";
}
