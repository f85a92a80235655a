// The circuit breaker (SPEC section 12, src/upstream/breaker.ts) on a fake clock: against a
// model written from the contract's sentences for random sequences of calls, verdicts and
// clock steps; which call results count as failures; and the cases by name.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CircuitBreaker, FAILURE_WINDOW_MS, verdictOf, type BreakerSettings, type BreakerView, type Entry, type Permit, type Transition, type Verdict } from "../../src/upstream/breaker.ts";

/**
 * The contract, kept as plainly as possible: the run of failures since the last success (all
 * of it), the permits whose verdicts still count (a set, emptied when the breaker opens), and
 * the trial in flight. It shares no code or bookkeeping with the implementation (which keeps
 * at most `failures` times and numbers its periods).
 */
class Model {
  mode: "closed" | "open" | "half_open" = "closed";
  /** Every failure since the last success, in order. */
  run: number[] = [];
  until = 0;
  /** Permits issued and not yet settled whose verdicts count. */
  live = new Set<number>();
  trial: { id: number; since: number } | null = null;
  next = 0;
  readonly settings: BreakerSettings;

  constructor(settings: BreakerSettings) {
    this.settings = settings;
  }

  #refresh(now: number): void {
    if (this.mode === "open" && now >= this.until) {
      this.mode = "half_open";
      this.trial = null;
    }
  }

  enter(now: number): { allowed: true; id: number; trial: boolean } | { allowed: false; retryAfterSeconds: number } {
    this.#refresh(now);
    if (this.mode === "closed") {
      const id = this.next++;
      this.live.add(id);
      return { allowed: true, id, trial: false };
    }
    if (this.mode === "open") return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((this.until - now) / 1000)) };
    if (this.trial !== null && now - this.trial.since < this.settings.trialTimeoutMs) return { allowed: false, retryAfterSeconds: 1 };
    if (this.trial !== null) this.live.delete(this.trial.id); // the lost trial is replaced
    const id = this.next++;
    this.trial = { id, since: now };
    this.live.add(id);
    return { allowed: true, id, trial: true };
  }

  settle(id: number, verdict: Verdict, now: number): Transition | null {
    this.#refresh(now);
    if (!this.live.delete(id)) return null;
    if (this.trial?.id === id) {
      this.trial = null;
      if (verdict === "success") {
        this.mode = "closed";
        this.run = [];
        return "closed";
      }
      if (verdict === "failure") {
        this.#open(now);
        return "reopened";
      }
      return null;
    }
    if (verdict === "none") return null;
    if (verdict === "success") {
      this.run = [];
      return null;
    }
    this.run.push(now);
    // Open when the last `failures` calls all failed, all within the minute.
    const n = this.settings.failures;
    if (this.run.length >= n && this.run[this.run.length - n]! > now - FAILURE_WINDOW_MS) {
      this.#open(now);
      return "opened";
    }
    return null;
  }

  #open(now: number): void {
    this.mode = "open";
    this.until = now + this.settings.openSeconds * 1000;
    this.live.clear();
    this.trial = null;
    this.run = [];
  }

  view(now: number): BreakerView {
    this.#refresh(now);
    if (this.mode === "closed") return { state: "closed", consecutiveFailures: this.run.filter((t) => t > now - FAILURE_WINDOW_MS).length };
    if (this.mode === "open") return { state: "open", retryAfterSeconds: Math.max(1, Math.ceil((this.until - now) / 1000)) };
    return { state: "half_open", trialInFlight: this.trial !== null && now - this.trial.since < this.settings.trialTimeoutMs };
  }
}

type Step = { op: "enter" } | { op: "settle"; newest: boolean; pick: number; verdict: Verdict } | { op: "tick"; ms: number };

// Weighted so that a run of a few hundred steps opens, half-opens and closes the breaker many
// times over: settling the newest permit often reaches the trial before it is replaced, and
// clock steps are mostly shorter than a pause. (fast-check's default sizes made runs of ten
// steps, which almost never opened the breaker: mutants of the trial logic survived.)
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constant<Step>({ op: "enter" }), weight: 4 },
  {
    arbitrary: fc.record({ op: fc.constant("settle" as const), newest: fc.boolean(), pick: fc.nat(), verdict: fc.constantFrom<Verdict>("success", "failure", "failure", "none") }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("tick" as const),
      ms: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 1_500 }), weight: 6 }, fc.constantFrom(999, 1_000, 1_001, 59_999, 60_000, 60_001), fc.integer({ min: 0, max: 120_000 })),
    }),
    weight: 2,
  },
);
const steps = fc.array(step, { minLength: 20, maxLength: 300, size: "max" });

const settings: fc.Arbitrary<BreakerSettings> = fc.record({
  failures: fc.integer({ min: 1, max: 4 }),
  openSeconds: fc.integer({ min: 1, max: 4 }),
  trialTimeoutMs: fc.integer({ min: 500, max: 15_000 }),
});

/** A breaker on a clock the test moves. */
function fakeClocked(s: BreakerSettings, start = 1_700_000_000_000): { breaker: CircuitBreaker; advance(ms: number): void; now(): number } {
  let now = start;
  const breaker = new CircuitBreaker(s, () => now);
  return { breaker, advance: (ms) => void (now += ms), now: () => now };
}

describe("the breaker against a model of SPEC 12", () => {
  it("agrees on every answer, transition and state for random calls, verdicts and clock steps", () => {
    fc.assert(
      fc.property(settings, steps, (s, run) => {
        const { breaker, advance, now } = fakeClocked(s);
        const model = new Model(s);
        const outstanding: { id: number; permit: Permit }[] = [];
        for (const [index, current] of run.entries()) {
          const at = `step ${index} (${JSON.stringify(current)})`;
          if (current.op === "tick") advance(current.ms);
          else if (current.op === "enter") {
            const got: Entry = breaker.enter();
            const expected = model.enter(now());
            if (expected.allowed) {
              expect(got, at).toMatchObject({ allowed: true, permit: { trial: expected.trial } });
              if (got.allowed) outstanding.push({ id: expected.id, permit: got.permit });
            } else {
              expect(got, at).toEqual({ allowed: false, retryAfterSeconds: expected.retryAfterSeconds });
            }
          } else if (outstanding.length > 0) {
            const which = current.newest ? outstanding.length - 1 : current.pick % outstanding.length;
            const [{ id, permit }] = outstanding.splice(which, 1) as [{ id: number; permit: Permit }];
            expect(breaker.settle(permit, current.verdict), at).toBe(model.settle(id, current.verdict, now()));
          }
          expect(breaker.view(), at).toEqual(model.view(now()));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("never lets a call through while open, nor a second one while the trial is in flight", () => {
    fc.assert(
      fc.property(settings, steps, (s, run) => {
        const { breaker, advance } = fakeClocked(s);
        const outstanding: Permit[] = [];
        for (const current of run) {
          if (current.op === "tick") advance(current.ms);
          else if (current.op === "enter") {
            const before = breaker.view();
            const entry = breaker.enter();
            if (before.state === "open" || (before.state === "half_open" && before.trialInFlight)) expect(entry.allowed).toBe(false);
            if (before.state === "closed") expect(entry).toMatchObject({ allowed: true, permit: { trial: false } });
            if (entry.allowed) outstanding.push(entry.permit);
          } else if (outstanding.length > 0) {
            const [permit] = outstanding.splice(current.newest ? outstanding.length - 1 : current.pick % outstanding.length, 1) as [Permit];
            breaker.settle(permit, current.verdict);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("what counts as a failed call", () => {
  it("a 502, 503 or 504 does; every other status — a 500 among them — does not", () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        const verdict = verdictOf({ kind: "response", status });
        expect(verdict).toBe(status === 502 || status === 503 || status === 504 ? "failure" : "success");
      }),
    );
    expect(verdictOf({ kind: "response", status: 500 })).toBe("success");
  });

  it("a timeout and an unreachable origin (refused, reset) do; a client that left says nothing", () => {
    expect(verdictOf({ kind: "timeout" })).toBe("failure");
    expect(verdictOf({ kind: "unreachable" })).toBe("failure");
    expect(verdictOf({ kind: "client_gone" })).toBe("none");
  });

  it("opens exactly at the first run of `failures` consecutive 502/503/504 answers, whatever 500s come between runs", () => {
    const statuses = fc.oneof(fc.constantFrom(500, 502, 503, 504, 500, 200, 404, 429, 501, 505), fc.integer({ min: 100, max: 599 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(statuses, { maxLength: 60 }), (failures, answers) => {
        const { breaker, advance } = fakeClocked({ failures, openSeconds: 5, trialTimeoutMs: 5_000 });
        let run = 0;
        for (const status of answers) {
          const entry = breaker.enter();
          expect(entry.allowed).toBe(true);
          if (!entry.allowed) return;
          const down = status === 502 || status === 503 || status === 504;
          run = down ? run + 1 : 0;
          const transition = breaker.settle(entry.permit, verdictOf({ kind: "response", status }));
          expect(transition).toBe(run === failures ? "opened" : null);
          if (transition === "opened") return;
          advance(10);
        }
      }),
    );
  });
});

describe("the breaker, case by case", () => {
  const s: BreakerSettings = { failures: 3, openSeconds: 10, trialTimeoutMs: 40_000 };

  function opened() {
    const clock = fakeClocked(s);
    for (let i = 0; i < 3; i++) {
      const entry = clock.breaker.enter();
      if (!entry.allowed) throw new Error("refused while closed");
      clock.breaker.settle(entry.permit, "failure");
    }
    return clock;
  }

  it("opens after three failures, counts Retry-After down to 1, and lets one trial through after the pause", () => {
    const { breaker, advance } = opened();
    expect(breaker.view()).toEqual({ state: "open", retryAfterSeconds: 10 });
    expect(breaker.enter()).toEqual({ allowed: false, retryAfterSeconds: 10 });
    advance(9_001);
    expect(breaker.enter()).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(999);
    const trial = breaker.enter();
    expect(trial).toMatchObject({ allowed: true, permit: { trial: true } });
    expect(breaker.enter()).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(breaker.view()).toEqual({ state: "half_open", trialInFlight: true });
    if (trial.allowed) expect(breaker.settle(trial.permit, "success")).toBe("closed");
    expect(breaker.view()).toEqual({ state: "closed", consecutiveFailures: 0 });
    expect(breaker.enter()).toMatchObject({ allowed: true, permit: { trial: false } });
  });

  it("reopens for the whole pause when the trial fails", () => {
    const { breaker, advance } = opened();
    advance(10_000);
    const trial = breaker.enter();
    advance(2_500);
    if (trial.allowed) expect(breaker.settle(trial.permit, "failure")).toBe("reopened");
    expect(breaker.enter()).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it("hands the trial to the next request when the trial never reached the origin (a 401, a 429)", () => {
    const { breaker, advance } = opened();
    advance(10_000);
    const denied = breaker.enter();
    if (denied.allowed) expect(breaker.settle(denied.permit, "none")).toBeNull();
    expect(breaker.view()).toEqual({ state: "half_open", trialInFlight: false });
    const next = breaker.enter();
    expect(next).toMatchObject({ allowed: true, permit: { trial: true } });
    // The first trial's verdict, were it to come again, is stale.
    if (denied.allowed) expect(breaker.settle(denied.permit, "success")).toBeNull();
    expect(breaker.view()).toEqual({ state: "half_open", trialInFlight: true });
  });

  it("replaces a trial whose verdict never came, once its time is up", () => {
    const { breaker, advance } = opened();
    advance(10_000);
    const lost = breaker.enter();
    advance(39_999);
    expect(breaker.enter().allowed).toBe(false);
    advance(1);
    const replacement = breaker.enter();
    expect(replacement).toMatchObject({ allowed: true, permit: { trial: true } });
    if (lost.allowed) expect(breaker.settle(lost.permit, "failure")).toBeNull();
    if (replacement.allowed) expect(breaker.settle(replacement.permit, "success")).toBe("closed");
  });

  it("forgets failures older than a minute, and a success ends the run", () => {
    const { breaker, advance } = fakeClocked(s);
    const fail = () => {
      const entry = breaker.enter();
      return entry.allowed ? breaker.settle(entry.permit, "failure") : "refused";
    };
    expect(fail()).toBeNull();
    advance(30_000);
    expect(fail()).toBeNull();
    advance(30_000); // the first failure is now a minute old
    expect(fail()).toBeNull();
    expect(breaker.view()).toEqual({ state: "closed", consecutiveFailures: 2 });
    const ok = breaker.enter();
    if (ok.allowed) breaker.settle(ok.permit, "success");
    expect(fail()).toBeNull();
    expect(fail()).toBeNull();
    expect(fail()).toBe("opened");
  });

  it("ignores what calls let through before the breaker opened say after it did", () => {
    const { breaker, advance } = fakeClocked(s);
    const early = breaker.enter();
    opensNow(breaker);
    advance(10_000);
    if (early.allowed) expect(breaker.settle(early.permit, "success")).toBeNull();
    expect(breaker.view()).toEqual({ state: "half_open", trialInFlight: false });
  });

  function opensNow(breaker: CircuitBreaker): void {
    for (let i = 0; i < 3; i++) {
      const entry = breaker.enter();
      if (entry.allowed) breaker.settle(entry.permit, "failure");
    }
  }
});
