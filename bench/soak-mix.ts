// What the soak sends: a fixed mix of every kind of traffic the gateway meets — public,
// keyed, credit-charging, and origins that fail (500, an HTML 502, no answer at all) —
// and the rule every answer must keep: an origin success, or exactly the envelope.
import { envelopeProblem } from "./envelope-check.ts";

export interface RequestKind {
  name: string;
  /** Share of the traffic, out of the sum of weights. */
  weight: number;
  path: string;
  /** Which account's key to send, if any. */
  key: "limits" | "credits" | "malformed" | null;
}

export const MIX: readonly RequestKind[] = [
  { name: "public", weight: 25, path: "/v1/public/status/200?body=ok", key: null },
  { name: "key + limits", weight: 25, path: "/v1/orders/echo", key: "limits" },
  { name: "credit", weight: 15, path: "/v1/credit/status/201?body=ok", key: "credits" },
  { name: "origin 500", weight: 10, path: "/v1/orders/bad-json-500", key: "limits" },
  { name: "credit, origin HTML 502", weight: 5, path: "/v1/credit/html502", key: "credits" },
  { name: "origin redirect", weight: 5, path: "/v1/public/redirect", key: null },
  { name: "origin timeout", weight: 5, path: "/v1/timeout/hang", key: "limits" },
  { name: "malformed key", weight: 5, path: "/v1/orders/echo", key: "malformed" },
  { name: "no route", weight: 5, path: "/nowhere", key: null },
];

/** The kind for the i-th request: a fixed, evenly interleaved cycle through the weights. */
export function kindFor(i: number, mix: readonly RequestKind[] = MIX): RequestKind {
  const total = mix.reduce((sum, k) => sum + k.weight, 0);
  // Stride through the cycle so one kind never comes in a burst.
  let slot = (i * 37) % total;
  for (const kind of mix) {
    if (slot < kind.weight) return kind;
    slot -= kind.weight;
  }
  return mix[0]!;
}

/** The mix restricted to the named kinds (to find which traffic a finding comes from). */
export function mixOf(names: readonly string[]): RequestKind[] {
  if (names.length === 0) return [...MIX];
  const unknown = names.filter((n) => !MIX.some((k) => k.name === n));
  if (unknown.length > 0) throw new Error(`unknown kinds ${unknown.join(", ")}; known: ${MIX.map((k) => k.name).join(", ")}`);
  return MIX.filter((k) => names.includes(k.name));
}

/** null when the answer keeps the contract; else what is wrong. */
export async function answerProblem(res: Response): Promise<string | null> {
  const body = await res.text();
  if (!/^req_[0-9A-Za-z]{16,}$/.test(res.headers.get("x-request-id") ?? "")) return `no X-Request-Id on a ${res.status}`;
  if (res.status >= 200 && res.status < 400) return null;
  return envelopeProblem(res.status, res.headers, body);
}
