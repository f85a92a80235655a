// autocannon, bounded (a duration or a request count), against 127.0.0.1 only. Latencies
// are collected from every response at full precision: autocannon's own histogram rounds
// to whole milliseconds, too coarse for a 1 ms budget.
import autocannon from "autocannon";

export interface LoadSpec {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** `[<id>]` in a header or the body becomes a fresh id per request (a new Idempotency-Key each). */
  idReplacement?: boolean;
  connections: number;
  /** Seconds; or `amount` requests in total. */
  durationSeconds?: number;
  amount?: number;
  /** Requests per second over all connections (unset: as fast as answers come). */
  rate?: number;
  timeoutSeconds?: number;
}

export interface LoadResult {
  responses: number;
  seconds: number;
  /** Responses per second. */
  throughput: number;
  latencyMs: { p50: number; p99: number; mean: number };
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Connection errors and timeouts: requests that got no response at all. */
  errors: number;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (!spec.url.startsWith("http://127.0.0.1:")) throw new Error(`load goes to 127.0.0.1 only, not ${spec.url}`);
  if (spec.durationSeconds === undefined && spec.amount === undefined) throw new Error("a load run needs a duration or an amount");
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: spec.url,
    method: spec.method ?? "GET",
    headers: spec.headers ?? {},
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    ...(spec.idReplacement === true ? { idReplacement: true } : {}),
    connections: spec.connections,
    ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.durationSeconds! }),
    ...(spec.rate !== undefined ? { overallRate: spec.rate } : {}),
    timeout: spec.timeoutSeconds ?? 10,
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, responseTimeMs: number) => {
    latencies.push(responseTimeMs);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const result = await instance;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    responses: latencies.length,
    seconds,
    throughput: latencies.length / seconds,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), mean: mean(latencies) },
    statuses,
    errors: result.errors + result.timeouts,
  };
}

/** Nearest-rank percentile of ascending values; NaN when there are none. */
export function percentile(ascending: readonly number[], p: number): number {
  if (ascending.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * ascending.length);
  return ascending[Math.min(ascending.length, Math.max(1, rank)) - 1]!;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}
