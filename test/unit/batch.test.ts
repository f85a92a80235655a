// Group commit's bookkeeping (src/account/batch.ts) with the commit and its scheduling done
// by hand: who shares a commit, when waiters are answered, what a failed commit takes with it.
// The object's side — real SQLite, a failing statement, the Worker's 500 — is
// test/worker/group-commit.test.ts.
import { describe, expect, it } from "vitest";
import { GroupCommit, type PendingBatch } from "../../src/account/batch.ts";
import { HOUR_MS, type UsageHour } from "../../src/account/usage.ts";

/** A GroupCommit whose timer is a list run by hand and whose commit records what it wrote. */
function harness(fail: (batch: PendingBatch) => Error | null = () => null) {
  const timers: (() => void)[] = [];
  const lingerTimers: (() => void)[] = [];
  const commits: { admissions: number[]; debits: string[]; also: boolean; answers?: string[] }[] = [];
  /** The usage rows of each commit, in commit order. */
  const usage: UsageHour[][] = [];
  const group = new GroupCommit(
    <T>(batch: PendingBatch, alsoWrite: (() => T) | null): T | undefined => {
      const error = fail(batch);
      if (error !== null) throw error;
      const answers = batch.answers.length === 0 ? {} : { answers: batch.answers.map((a) => a.requestId) };
      commits.push({ admissions: [...batch.admissions], debits: batch.debits.map((d) => d.requestId), also: alsoWrite !== null, ...answers });
      usage.push(batch.usage.rows());
      return alsoWrite === null ? undefined : alsoWrite();
    },
    (run) => timers.push(run),
    (run) => lingerTimers.push(run),
  );
  const fireTimers = () => timers.splice(0).forEach((run) => run());
  const fireLinger = () => lingerTimers.splice(0).forEach((run) => run());
  return { group, commits, usage, timers, lingerTimers, fireTimers, fireLinger };
}

const answer = (requestId: string) => ({ requestId, key: `k-${requestId}`, answer: { kind: "not_kept" } as const, at: 1 });

/** Whether `promise` has settled, and how, after the microtasks queued so far have run. */
async function state(promise: Promise<unknown>): Promise<"pending" | "resolved" | "rejected"> {
  let result: "pending" | "resolved" | "rejected" = "pending";
  promise.then(
    () => (result = "resolved"),
    () => (result = "rejected"),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe("GroupCommit", () => {
  it("commits every admission that joined before the timer in one commit, and answers none before it", async () => {
    const { group, commits, timers, fireTimers } = harness();
    const waiters = [1, 2, 3].map((at) => group.join(at, "k1", at === 2 ? { at, requestId: "r2", keyId: "k1", cost: 5, balance: 95 } : null));
    expect(timers).toHaveLength(1); // one commit scheduled for the whole batch
    expect(group.pending.admissions).toEqual([1, 2, 3]);
    expect(group.pending.debited).toBe(5);
    for (const w of waiters) expect(await state(w)).toBe("pending");

    fireTimers();
    expect(commits).toEqual([{ admissions: [1, 2, 3], debits: ["r2"], also: false }]);
    for (const w of waiters) expect(await state(w)).toBe("resolved");
    expect(group.pending.size).toBe(0);
    expect(group.stats()).toEqual({ batches: 1, failedBatches: 0, admissions: 3, failedAdmissions: 0, sizes: [{ size: 3, batches: 1 }], answers: 0, answerOnlyBatches: 0 });
  });

  it("a failed commit fails every admission of its batch and no other", async () => {
    let failNext = true;
    const { group, commits, fireTimers } = harness(() => (failNext ? new Error("injected") : null));
    const first = [group.join(1, "k1", null), group.join(2, "k1", null)];
    fireTimers();
    for (const w of first) await expect(w).rejects.toThrow("injected");

    failNext = false;
    const second = group.join(3, "k1", null);
    expect(group.pending.admissions).toEqual([3]); // the failed batch left nothing behind
    fireTimers();
    await expect(second).resolves.toBeUndefined();
    expect(commits).toEqual([{ admissions: [3], debits: [], also: false }]);
    expect(group.stats()).toMatchObject({ batches: 2, failedBatches: 1, admissions: 3, failedAdmissions: 2 });
  });

  it("commitNow writes the pending batch with its own write, at once; the timer then finds nothing", async () => {
    const { group, commits, fireTimers } = harness();
    const waiter = group.join(1, "k1", null);
    expect(group.commitNow(() => "refunded")).toBe("refunded");
    expect(commits).toEqual([{ admissions: [1], debits: [], also: true }]);
    expect(await state(waiter)).toBe("resolved");
    fireTimers();
    expect(commits).toHaveLength(1);
  });

  it("commitNow throws its batch's error to its caller and to the batch's waiters", async () => {
    const { group } = harness((batch) => (batch.size > 0 ? new Error("disk full") : null));
    const waiter = group.join(1, "k1", null);
    expect(() => group.commitNow(() => "never")).toThrow("disk full");
    await expect(waiter).rejects.toThrow("disk full");
  });

  it("pendingCommitted settles with the pending batch, at once when there is none", async () => {
    let fail = false;
    const { group, fireTimers } = harness(() => (fail ? new Error("injected") : null));
    expect(await state(group.pendingCommitted())).toBe("resolved");

    void group.join(1, "k1", null);
    const denial = group.pendingCommitted();
    expect(await state(denial)).toBe("pending");
    fireTimers();
    expect(await state(denial)).toBe("resolved");

    fail = true;
    void group.join(2, "k1", null).catch(() => {});
    const failedDenial = group.pendingCommitted();
    fireTimers();
    await expect(failedDenial).rejects.toThrow("injected");
  });

  it("an answer to keep lingers for an admission's commit, and commits alone only when none comes", async () => {
    const { group, commits, timers, lingerTimers, fireTimers, fireLinger } = harness();
    const kept = group.keepLater(answer("r1"));
    expect(timers).toHaveLength(0);
    expect(lingerTimers).toHaveLength(1);
    const admitted = group.join(2, "k1", null);
    fireTimers();
    expect(commits).toEqual([{ admissions: [2], debits: [], also: false, answers: ["r1"] }]);
    expect(await state(kept)).toBe("resolved");
    expect(await state(admitted)).toBe("resolved");
    fireLinger(); // finds nothing left
    expect(commits).toHaveLength(1);

    const alone = group.keepLater(answer("r3"));
    expect(await state(alone)).toBe("pending");
    fireLinger();
    expect(commits.at(-1)).toEqual({ admissions: [], debits: [], also: false, answers: ["r3"] });
    expect(await state(alone)).toBe("resolved");
    expect(group.stats()).toMatchObject({ batches: 1, answers: 2, answerOnlyBatches: 1 });
  });

  it("an answer's linger does not hold up an admission that joins while it waits", async () => {
    const { group, commits, timers, fireTimers, fireLinger } = harness();
    void group.keepLater(answer("r1"));
    const admitted = group.join(2, "k1", null);
    expect(timers).toHaveLength(1); // the admission's own timer, not the answer's linger
    fireTimers();
    expect(await state(admitted)).toBe("resolved");
    fireLinger();
    expect(commits).toHaveLength(1);
  });

  it("a batch that joins after a commit gets a commit of its own", async () => {
    const { group, commits, timers, fireTimers } = harness();
    const a = group.join(1, "k1", null);
    fireTimers();
    const b = group.join(2, "k1", null);
    expect(timers).toHaveLength(1);
    expect(await state(a)).toBe("resolved");
    expect(await state(b)).toBe("pending");
    fireTimers();
    expect(await state(b)).toBe("resolved");
    expect(commits.map((c) => c.admissions)).toEqual([[1], [2]]);
  });

  it("tallies a batch's usage by key and hour: fifty admissions by one key in one hour are one row", async () => {
    const { group, usage, timers, fireTimers } = harness();
    const hour = 490_000;
    const at = (minute: number) => hour * HOUR_MS + minute * 60_000;
    const waiters = Array.from({ length: 50 }, (_, i) =>
      group.join(at(i % 60), "k1", i % 2 === 0 ? { at: at(i % 60), requestId: `r${i}`, keyId: "k1", cost: 3, balance: 1_000 - 3 * (i / 2 + 1) } : null),
    );
    waiters.push(group.join(at(59) + 59_999, "k2", null), group.join(at(60), "k1", null)); // k2; the next hour
    expect(timers).toHaveLength(1);
    fireTimers();
    for (const w of waiters) expect(await state(w)).toBe("resolved");
    const zero = { origin_failed: 0, insufficient_credits: 0, forbidden: 0, rate_limited: 0 };
    expect(usage).toEqual([
      [
        { hour, key_id: "k1", admitted: 50, credits_spent: 75, ...zero },
        { hour, key_id: "k2", admitted: 1, credits_spent: 0, ...zero },
        { hour: hour + 1, key_id: "k1", admitted: 1, credits_spent: 0, ...zero },
      ],
    ]);
  });

  it("a refusal's count joins the batch and schedules its commit; a failed commit takes the count with it", async () => {
    let fail = false;
    const { group, commits, usage, timers, fireTimers } = harness(() => (fail ? new Error("injected") : null));
    const hour = 490_000;
    // Alone, a refusal still has a write to schedule: its count. Nothing to wait for in its answer.
    group.countRefusal(hour * HOUR_MS, "k1", "forbidden");
    expect(group.pending.isEmpty).toBe(false);
    expect(group.pending.size).toBe(0); // no admission: decisions see nothing new
    expect(await state(group.pendingCommitted())).toBe("resolved");
    expect(timers).toHaveLength(1);
    fireTimers();
    expect(commits).toEqual([{ admissions: [], debits: [], also: false }]);
    expect(usage[0]).toEqual([{ hour, key_id: "k1", admitted: 0, origin_failed: 0, insufficient_credits: 0, forbidden: 1, rate_limited: 0, credits_spent: 0 }]);
    // Refusals alone are not admission batches.
    expect(group.stats()).toMatchObject({ batches: 0, admissions: 0 });

    fail = true;
    const admitted = group.join(hour * HOUR_MS, "k1", null);
    group.countRefusal(hour * HOUR_MS, "k1", "rate_limited");
    const denial = group.pendingCommitted(); // a 429 that counted the admission waits for it
    fireTimers();
    await expect(admitted).rejects.toThrow("injected");
    await expect(denial).rejects.toThrow("injected");
    expect(group.pending.isEmpty).toBe(true);
    expect(usage).toHaveLength(1); // the failed batch wrote nothing
    expect(group.stats()).toMatchObject({ failedBatches: 1, failedAdmissions: 1 });
  });
});
