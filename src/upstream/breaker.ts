// One upstream's circuit breaker (SPEC section 12). Pure: the clock is passed in, nothing
// here does I/O, and the gateway keeps one per upstream per isolate (upstreams.ts).
//
//   closed ── `failures` consecutive failed calls, all within a minute ──► open
//   open ── `open_seconds` later, the next request becomes the one trial ──► half-open
//   half-open ── the trial succeeds ──► closed;  fails ──► open again
//                 the trial never reached the origin (a 401, a 429, a client that left) ──►
//                 half-open, waiting for the next request to be the trial
//
// Every call the breaker lets through holds a permit and ends it with a verdict. A permit
// belongs to one period of the breaker: a call that was let through before the breaker
// opened, and answers after, says nothing about the upstream as it is now, and is ignored.

/** The span that `failures` consecutive failed calls must fall within (SPEC 12: a minute). */
export const FAILURE_WINDOW_MS = 60_000;

export interface BreakerSettings {
  /** Consecutive failed calls, all within FAILURE_WINDOW_MS, that open the breaker. */
  failures: number;
  /** How long the breaker stays open before one trial request is let through. */
  openSeconds: number;
  /**
   * How long a trial may go without a verdict before the next request takes its place. The
   * gateway always gives one (a `finally`), so this only keeps a lost verdict from leaving
   * the upstream refused for good; set it above the longest wait for the upstream.
   */
  trialTimeoutMs: number;
}

/** What a finished call says about the upstream. */
export type Verdict = "success" | "failure" | "none";

/** A call's result, as much of it as the breaker needs. */
export type CallEnd = { kind: "response"; status: number } | { kind: "timeout" } | { kind: "unreachable" } | { kind: "client_gone" };

/**
 * Timeouts, resets, unreachable origins and 502/503/504 — the answers of a service that is
 * down — are failures. Any other answer, a 500 included (an application error), shows the
 * service up. A client that left before the answer says nothing either way.
 */
export function verdictOf(call: CallEnd): Verdict {
  switch (call.kind) {
    case "response":
      return call.status === 502 || call.status === 503 || call.status === 504 ? "failure" : "success";
    case "timeout":
    case "unreachable":
      return "failure";
    case "client_gone":
      return "none";
  }
}

export interface Permit {
  /** This call is the one trial of a half-open breaker. */
  readonly trial: boolean;
  /** The breaker's period the permit belongs to. */
  readonly epoch: number;
}

export type Entry = { allowed: true; permit: Permit } | { allowed: false; retryAfterSeconds: number };

/** How a verdict changed the breaker, for the log line. */
export type Transition = "opened" | "closed" | "reopened";

export type BreakerView =
  | { state: "closed"; consecutiveFailures: number }
  | { state: "open"; retryAfterSeconds: number }
  | { state: "half_open"; trialInFlight: boolean };

type State =
  /** The times of the current run of consecutive failures, oldest first, at most `failures`. */
  | { kind: "closed"; failureTimes: number[] }
  /** Refusing until `until`; half-open from then on. */
  | { kind: "open"; until: number }
  /** The trial in flight started at `trialSince`; null while the next request may be the trial. */
  | { kind: "half_open"; trialSince: number | null };

export class CircuitBreaker {
  readonly settings: BreakerSettings;
  /** The wall clock (epoch ms). Replaceable, so tests can move time instead of waiting. */
  clock: () => number;
  #state: State = { kind: "closed", failureTimes: [] };
  /** Moves on whenever the breaker opens and whenever a trial is handed out. */
  #epoch = 0;

  constructor(settings: BreakerSettings, clock: () => number) {
    this.settings = settings;
    this.clock = clock;
  }

  /** Asks to call the upstream now: a permit to do so, or the seconds until it may be asked again. */
  enter(): Entry {
    const now = this.clock();
    const state = this.#current(now);
    switch (state.kind) {
      case "closed":
        return { allowed: true, permit: { trial: false, epoch: this.#epoch } };
      case "open":
        return { allowed: false, retryAfterSeconds: wholeSeconds(state.until - now) };
      case "half_open":
        if (state.trialSince !== null && now - state.trialSince < this.settings.trialTimeoutMs) {
          // One trial at a time; its answer is due within the upstream's timeout.
          return { allowed: false, retryAfterSeconds: 1 };
        }
        this.#epoch++;
        this.#state = { kind: "half_open", trialSince: now };
        return { allowed: true, permit: { trial: true, epoch: this.#epoch } };
    }
  }

  /** Ends a permit with what its call said. Call it once per permit. */
  settle(permit: Permit, verdict: Verdict): Transition | null {
    if (permit.epoch !== this.#epoch) return null;
    const now = this.clock();
    const state = this.#current(now);
    if (permit.trial) {
      if (state.kind !== "half_open") return null;
      if (verdict === "success") {
        this.#state = { kind: "closed", failureTimes: [] };
        return "closed";
      }
      if (verdict === "failure") {
        this.#open(now);
        return "reopened";
      }
      // The trial never reached the origin: the next request tries instead.
      this.#state = { kind: "half_open", trialSince: null };
      return null;
    }
    if (state.kind !== "closed" || verdict === "none") return null;
    if (verdict === "success") {
      state.failureTimes.length = 0;
      return null;
    }
    const times = state.failureTimes;
    times.push(now);
    // At most `failures` times are ever kept: the run opens the breaker when it gets there.
    while (times.length > 0 && times[0]! <= now - FAILURE_WINDOW_MS) times.shift();
    if (times.length < this.settings.failures) return null;
    this.#open(now);
    return "opened";
  }

  /** The state as of now, for the health endpoint. */
  view(): BreakerView {
    const now = this.clock();
    const state = this.#current(now);
    switch (state.kind) {
      case "closed": {
        const recent = state.failureTimes.filter((time) => time > now - FAILURE_WINDOW_MS);
        return { state: "closed", consecutiveFailures: recent.length };
      }
      case "open":
        return { state: "open", retryAfterSeconds: wholeSeconds(state.until - now) };
      case "half_open":
        return { state: "half_open", trialInFlight: state.trialSince !== null && now - state.trialSince < this.settings.trialTimeoutMs };
    }
  }

  /** The state, with an open breaker whose pause is over seen as half-open. */
  #current(now: number): State {
    if (this.#state.kind === "open" && now >= this.#state.until) this.#state = { kind: "half_open", trialSince: null };
    return this.#state;
  }

  #open(now: number): void {
    this.#epoch++;
    this.#state = { kind: "open", until: now + this.settings.openSeconds * 1000 };
  }
}

/** Whole seconds, at least 1: what Retry-After may say. */
function wholeSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
