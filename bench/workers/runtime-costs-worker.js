// A bench-only Worker (bench/runtime-costs.ts): runs one runtime operation N times inside one
// request, so the caller can divide workerd's CPU by N. Each op is a choice the gateway made
// (docs/performance.md, "What was cut"); both sides of each choice are here.
//
//   GET /<op>?n=N
import { DurableObject } from "cloudflare:workers";

const WINDOWS = [
  { name: "minute", limit: 100000000, windowSeconds: 60, remaining: 99999000, resetSeconds: 60 },
  { name: "day", limit: 1000000000, windowSeconds: 86400, remaining: 999990000, resetSeconds: 43000 },
];
const KEY_HASH = new Uint8Array(32).fill(7).buffer;
const ADMIT_REQUEST = { requestId: "req_abcdefghijklmnopqrstuv", keyId: "abcdefghij", keyHash: KEY_HASH, scope: "read", cost: 0 };
const RATE_LIMIT_PAIRS = [
  ["RateLimit-Policy", '"minute";q=100000000;w=60, "day";q=1000000000;w=86400'],
  ["RateLimit", '"minute";r=99999000;t=60, "day";r=999990000;t=43000'],
  ["X-RateLimit-Limit", "100000000"],
  ["X-RateLimit-Remaining", "99999000"],
  ["X-RateLimit-Reset", "60"],
];

export class CostsDO extends DurableObject {
  noop() {
    return null;
  }
  admitShaped() {
    return { outcome: "admitted", windows: WINDOWS, balance: null };
  }
  compactShaped() {
    return { outcome: "admitted", windows: WINDOWS.map((w) => [w.limit, w.windowSeconds, w.remaining, w.resetSeconds]), balance: null };
  }
}

const ids = new Map();

const OPS = {
  // The answer's RateLimit headers: built as a Headers object and copied, or as pairs.
  "headers-object": () => {
    const built = new Headers();
    for (const [name, value] of RATE_LIMIT_PAIRS) built.set(name, value);
    const out = new Headers();
    for (const [name, value] of built) out.set(name, value);
  },
  "headers-pairs": () => {
    const out = new Headers();
    for (const [name, value] of RATE_LIMIT_PAIRS) out.set(name, value);
  },
  // Reaching an account's object: by name every time, or with the id kept per isolate.
  "stub-by-name": (env, i) => env.COSTS.getByName(`acct-${i % 10}`),
  "stub-by-cached-id": (env, i) => {
    const name = `acct-${i % 10}`;
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = env.COSTS.idFromName(name)));
    return env.COSTS.get(id);
  },
  // One RPC round trip into an object: nothing, admit()'s argument and answer, a compact answer.
  "rpc-noop": (env) => env.COSTS.getByName("rpc").noop(),
  "rpc-admit-shaped": (env) => env.COSTS.getByName("rpc").admitShaped(ADMIT_REQUEST),
  "rpc-compact-shaped": (env) => env.COSTS.getByName("rpc").compactShaped(ADMIT_REQUEST),
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const op = OPS[url.pathname.slice(1)];
    if (op === undefined) return new Response(`ops: ${Object.keys(OPS).join(", ")}`, { status: 404 });
    const n = Number(url.searchParams.get("n") ?? 1000);
    for (let i = 0; i < n; i++) await op(env, i);
    return new Response("ok");
  },
};
