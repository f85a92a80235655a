// What `GET /_gateway/health` says of each upstream (SPEC 12). A type of its own, free of the
// Worker's code, so the admin client (CLI, dashboard) can read it too.

/** One upstream in `GET /_gateway/health`: its breaker as the answering isolate sees it. */
export type UpstreamHealth =
  | { name: string; breaker: "off" }
  | { name: string; breaker: "closed"; consecutive_failures: number }
  | { name: string; breaker: "open"; retry_after: number }
  | { name: string; breaker: "half_open"; trial_in_flight: boolean };

/** The body of `GET /_gateway/health`. */
export interface Health {
  status: "ok";
  /** The default upstream first. */
  upstreams: UpstreamHealth[];
}
