// The slice of autocannon's API the benchmarks use (the package ships no types).
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Replace `[<id>]` in the request (headers and body) with a fresh id per request. */
    idReplacement?: boolean;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Total requests; ends the run instead of duration. */
    amount?: number;
    /** Requests per second over all connections. */
    overallRate?: number;
    timeout?: number;
  }

  interface Result {
    requests: { average: number; total: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
    statusCodeStats: Record<string, { count: number }>;
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
