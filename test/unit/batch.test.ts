// Group commit's bookkeeping (src/account/batch.ts) with the commit, its scheduling and
// storage's durability confirmations all done by hand: who leads, who shares a commit, when
// waiters are answered, what a failed commit takes with it. The object's side — real SQLite,
// a failing statement, the Worker's 500 — is test/worker/group-commit.test.ts.
import { describe, expect, it } from "vitest";
import { GroupCommit, type PendingBatch } from "../../src/account/batch.ts";

/** A GroupCommit whose timer, commit and storage confirmations are driven by the test. */
function harness(fail: (batch: PendingBatch) => Error | null = () => null) {
  const timers: (() => void)[] = [];
  const confirmations: (() => void)[] = [];
  const commits: { admissions: number[]; debits: string[]; also: boolean }[] = [];
  const group = new GroupCommit(
    <T>(batch: PendingBatch, alsoWrite: (() => T) | null): T | undefined => {
      const error = fail(batch);
      if (error !== null) throw error;
      commits.push({ admissions: [...batch.admissions], debits: batch.debits.map((d) => d.requestId), also: alsoWrite !== null });
      return alsoWrite === null ? undefined : alsoWrite();
    },
    () => new Promise<void>((resolve) => confirmations.push(resolve)),
    (run: () => void) => void timers.push(run),
  );
  const fireTimers = () => timers.splice(0).forEach((run) => run());
  /** Storage says everything written so far is durable. */
  const confirm = async () => {
    confirmations.splice(0).forEach((resolve) => resolve());
    await settled();
  };
  return { group, commits, timers, fireTimers, confirm };
}

/** Lets every queued promise reaction run. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled, and how, once the reactions queued so far have run. */
async function state(promise: Promise<unknown>): Promise<"pending" | "resolved" | "rejected"> {
  let result: "pending" | "resolved" | "rejected" = "pending";
  promise.then(
    () => (result = "resolved"),
    () => (result = "rejected"),
  );
  await settled();
  return result;
}

describe("GroupCommit", () => {
  it("an admission that finds no commit under way leads: committed at once, no timer", async () => {
    const { group, commits, timers } = harness();
    const waiter = group.join(1, null);
    expect(commits).toEqual([{ admissions: [1], debits: [], also: false }]);
    expect(timers).toHaveLength(0);
    expect(await state(waiter)).toBe("resolved");
  });

  it("admissions arriving while a commit is under way share the next one, scheduled once; none is answered before it", async () => {
    const { group, commits, timers, fireTimers } = harness();
    void group.join(0, null); // leads; its commit is not confirmed yet
    const waiters = [1, 2, 3].map((at) => group.join(at, at === 2 ? { at, requestId: "r2", cost: 5, balance: 95 } : null));
    expect(timers).toHaveLength(1);
    expect(group.pending.admissions).toEqual([1, 2, 3]);
    expect(group.pending.debited).toBe(5);
    for (const w of waiters) expect(await state(w)).toBe("pending");

    fireTimers();
    expect(commits.map((c) => c.admissions)).toEqual([[0], [1, 2, 3]]);
    expect(commits[1]!.debits).toEqual(["r2"]);
    for (const w of waiters) expect(await state(w)).toBe("resolved");
    expect(group.pending.size).toBe(0);
    expect(group.stats()).toEqual({ batches: 2, failedBatches: 0, admissions: 4, failedAdmissions: 0, sizes: [{ size: 1, batches: 1 }, { size: 3, batches: 1 }] });
  });

  it("once storage confirms every commit, the next admission leads again", async () => {
    const { group, commits, timers, confirm } = harness();
    void group.join(1, null);
    void group.join(2, null); // follows: a timer is scheduled
    expect(timers).toHaveLength(1);
    timers.splice(0).forEach((run) => run());
    await confirm();
    void group.join(3, null);
    expect(commits.map((c) => c.admissions)).toEqual([[1], [2], [3]]);
    expect(timers).toHaveLength(0);
  });

  it("a failed commit fails every admission of its batch and no other", async () => {
    let failing = false;
    const { group, commits, fireTimers } = harness(() => (failing ? new Error("injected") : null));
    void group.join(0, null);
    failing = true;
    const batch = [group.join(1, null), group.join(2, null)];
    fireTimers();
    for (const w of batch) await expect(w).rejects.toThrow("injected");

    failing = false;
    const next = group.join(3, null);
    expect(group.pending.admissions).toEqual([3]); // the failed batch left nothing behind
    fireTimers();
    await expect(next).resolves.toBeUndefined();
    expect(commits.map((c) => c.admissions)).toEqual([[0], [3]]);
    expect(group.stats()).toMatchObject({ batches: 3, failedBatches: 1, admissions: 4, failedAdmissions: 2 });
  });

  it("a leader whose commit fails gets the error", async () => {
    const { group } = harness(() => new Error("disk full"));
    await expect(group.join(1, null)).rejects.toThrow("disk full");
    expect(group.pending.size).toBe(0);
  });

  it("commitNow writes the pending batch with its own write, at once; the timer then finds nothing", async () => {
    const { group, commits, fireTimers } = harness();
    void group.join(0, null);
    const waiter = group.join(1, null);
    expect(group.commitNow(() => "refunded")).toBe("refunded");
    expect(commits.at(-1)).toEqual({ admissions: [1], debits: [], also: true });
    expect(await state(waiter)).toBe("resolved");
    fireTimers();
    expect(commits).toHaveLength(2);
  });

  it("commitNow throws its batch's error to its caller and to the batch's waiters", async () => {
    let failing = false;
    const { group } = harness((batch) => (failing && batch.size > 0 ? new Error("disk full") : null));
    void group.join(0, null);
    failing = true;
    const waiter = group.join(1, null);
    expect(() => group.commitNow(() => "never")).toThrow("disk full");
    await expect(waiter).rejects.toThrow("disk full");
  });

  it("pendingCommitted settles with the pending batch, at once when there is none", async () => {
    let failing = false;
    const { group, fireTimers } = harness(() => (failing ? new Error("injected") : null));
    expect(await state(group.pendingCommitted())).toBe("resolved");

    void group.join(0, null);
    void group.join(1, null);
    const denial = group.pendingCommitted();
    expect(await state(denial)).toBe("pending");
    fireTimers();
    expect(await state(denial)).toBe("resolved");

    failing = true;
    void group.join(2, null).catch(() => {});
    const failedDenial = group.pendingCommitted();
    fireTimers();
    await expect(failedDenial).rejects.toThrow("injected");
  });
});
