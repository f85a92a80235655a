// Group commit: many admissions per storage commit, none answered before its own commit.
//
// Committing a write costs local workerd about 200 µs of CPU whatever the transaction holds
// (docs/performance.md), so an object that commits every admission on its own serves about
// 3,400 a second however many callers wait. Databases solved this long ago: every waiting
// transaction's rows go into one commit, and each caller is answered only after the commit
// that holds its rows. Here:
//
// - admit() decides synchronously against the committed state plus the pending batch, adds
//   its rows to the batch and awaits the batch's commit;
// - the first row of a batch schedules its commit with a 0 ms timer. A timer does not hold
//   the object's input gate, and workerd fires it only once the calls already delivered to
//   the object have run (kj's event loop runs every ready event before it polls its timers),
//   so every admission that was waiting joins the batch;
// - the commit writes the whole batch in one transactionSync and then resolves every waiter.
//   The write locks the output gate until SQLite has committed it, and an RPC reply waits for
//   the output gate (workerd's actor-sqlite.c++ and worker-rpc.c++), so a reply that leaves
//   after the write also leaves after the commit;
// - if the write throws, SQLite rolls the whole batch back and every admission in it fails
//   (the Worker answers 500 with Retry-After: 1 and forwards nothing); the object reloads its
//   memory from storage. If SQLite's commit itself fails, workerd breaks the output gate: no
//   reply leaves at all and the object restarts from storage.
//
// Writes that are not admissions (refunds, the admin API) do not wait for a timer: they
// commit the pending batch and their own write together, at once (GroupCommit.commitNow).
// The answers kept for Idempotency-Key replays are the exception: one comes after nearly every
// request that carries the header, nobody waits on it but the Worker's background work, and
// a commit of its own would cost as much as the request's whole admission, so an answer
// joins the pending batch like an admission does (GroupCommit.keepLater) — and lingers there
// (ANSWER_LINGER_MS) for an admission's commit to carry it, rather than start one of its own.
//
// The refusals the object decides (402, 403, 429) join a batch too, for their line in the
// usage history (usage.ts), and schedule its commit if none is. Their answers do not wait for
// it: a refusal changes nothing the next decision reads, so it is answered as it always was —
// at once, or (a 429 or 402 that counted the pending admissions) once those are committed.
//
// More kinds of rows join a batch the way debits do: a field in PendingBatch that the
// decisions can read (a claim the next request must see), a parameter of `add`, and the
// statements that write it in AccountDO's commit. Idempotency-Key claims do: the next request
// with the same key, in the same batch, must meet the claim (SPEC 11).
import type { KeptAnswer, NewClaim } from "./idempotency.ts";
import { UsageTally, type Refusal } from "./usage.ts";

/** One credit debit of a pending admission; `balance` is the account's after it. */
export interface PendingDebit {
  at: number;
  requestId: string;
  /** The key that made the request: its refund is counted against it (usage.ts). */
  keyId: string;
  cost: number;
  balance: number;
}

/** An answer to keep for the claim `requestId` holds on `key` (SPEC 11). */
export interface PendingAnswer {
  requestId: string;
  key: string;
  answer: KeptAnswer;
  at: number;
}

/** The writes of the admissions decided but not yet committed. */
export class PendingBatch {
  /** Admission times, ascending (the object's clock never runs backwards). */
  readonly admissions: number[] = [];
  /** Debits in the order they were decided. */
  readonly debits: PendingDebit[] = [];
  /** Credits the debits take, in all. */
  debited = 0;
  /** The usage history's increments, by key and hour: admissions and refusals. */
  readonly usage = new UsageTally();
  /** Idempotency-Key claims, by key. */
  readonly claims = new Map<string, NewClaim>();
  /** Answers of earlier claims, to keep for replay; not admissions. */
  readonly answers: PendingAnswer[] = [];

  /** Admissions in the batch. */
  get size(): number {
    return this.admissions.length;
  }

  /** Nothing to write: no admission, no refusal, no answer. */
  get isEmpty(): boolean {
    return this.admissions.length === 0 && this.usage.isEmpty && this.answers.length === 0;
  }

  /**
   * One admission: its slot, its debit, its claim. `keyId` is whose usage it counts as, or
   * null for a replay (SPEC 13 counts requests forwarded to the origin; a replay is not).
   */
  add(at: number, keyId: string | null, debit: PendingDebit | null, claim: NewClaim | null = null): void {
    this.admissions.push(at);
    if (debit !== null) {
      this.debits.push(debit);
      this.debited += debit.cost;
    }
    if (keyId !== null) this.usage.admitted(at, keyId, debit?.cost ?? 0);
    if (claim !== null) this.claims.set(claim.key, claim);
  }

  refuse(at: number, keyId: string, refusal: Refusal): void {
    this.usage.refused(at, keyId, refusal);
  }
}

/**
 * Writes a batch (and `alsoWrite`, when given) in one transaction, or throws having written
 * nothing. Returns what `alsoWrite` returned.
 */
export type CommitBatch = <T>(batch: PendingBatch, alsoWrite: (() => T) | null) => T | undefined;

/** How a commit is scheduled; a 0 ms timer in the object, by hand in unit tests. */
export type Schedule = (run: () => void) => void;

export const nextTimerTurn: Schedule = (run) => {
  setTimeout(run, 0);
};

/**
 * How long a batch holding only answers waits for an admission to commit with. Nobody is
 * answered by its commit (the Worker keeps answers in the background); a repeat of the request
 * meanwhile meets the answer in the batch (idempotency-records.ts) and is answered after the
 * commit its own admission schedules.
 */
export const ANSWER_LINGER_MS = 10;

export const answerLinger: Schedule = (run) => {
  setTimeout(run, ANSWER_LINGER_MS);
};

/** Batch sizes (admissions per commit) since the object started, for `npm run bench` and operators. */
export interface GroupCommitStats {
  batches: number;
  failedBatches: number;
  admissions: number;
  /** Admissions refused because their batch failed to commit. */
  failedAdmissions: number;
  /** How many batches held `size` admissions, ascending by size. */
  sizes: { size: number; batches: number }[];
  /** Answers kept for Idempotency-Key replays, and the batches that held no admission. */
  answers: number;
  answerOnlyBatches: number;
}

export class GroupCommit {
  private batch = new PendingBatch();
  private committed = settledLater();
  private scheduled = false;
  private lingering = false;
  private readonly commit: CommitBatch;
  private readonly schedule: Schedule;
  private readonly linger: Schedule;
  private readonly sizes = new Map<number, number>();
  private batches = 0;
  private failedBatches = 0;
  private admissions = 0;
  private failedAdmissions = 0;
  private answers = 0;
  private answerOnlyBatches = 0;

  constructor(commit: CommitBatch, schedule: Schedule = nextTimerTurn, linger: Schedule = answerLinger) {
    this.commit = commit;
    this.schedule = schedule;
    this.linger = linger;
  }

  /** What is decided but not committed: one more input to every decision. */
  get pending(): PendingBatch {
    return this.batch;
  }

  /**
   * Adds one admission to the pending batch. Resolves once the batch is committed; rejects
   * with the commit's error if it is not.
   */
  join(at: number, keyId: string | null, debit: PendingDebit | null, claim: NewClaim | null = null): Promise<void> {
    this.batch.add(at, keyId, debit, claim);
    return this.scheduleCommit();
  }

  /**
   * Adds an answer to keep to the pending batch, committed with the next commit of admissions
   * or refusals, or on its own after ANSWER_LINGER_MS; resolves or rejects with that commit.
   */
  keepLater(answer: PendingAnswer): Promise<void> {
    this.batch.answers.push(answer);
    if (!this.scheduled && !this.lingering) {
      this.lingering = true;
      this.linger(() => this.onLinger());
    }
    return this.committed.promise;
  }

  /**
   * Counts a refusal in the pending batch, committed with it. Its answer does not wait for
   * that (see pendingCommitted): a count lost with a batch that fails to commit, or with an
   * object that stops before its next commit, is a refusal answered but not counted.
   */
  countRefusal(at: number, keyId: string, refusal: Refusal): void {
    this.batch.refuse(at, keyId, refusal);
    void this.scheduleCommit();
  }

  /**
   * Resolves once the pending batch's admissions are committed (at once when none is
   * pending), rejects if they are not: for answers that were decided against them (a 429
   * counted them), so they stand or fall with them.
   */
  pendingCommitted(): Promise<void> {
    return this.batch.size === 0 ? Promise.resolve() : this.committed.promise;
  }

  /**
   * As pendingCommitted, for a decision that also read the answers waiting in the batch (an
   * Idempotency-Key's record): it stands or falls with them too.
   */
  pendingAndAnswersCommitted(): Promise<void> {
    return this.batch.size === 0 && this.batch.answers.length === 0 ? Promise.resolve() : this.committed.promise;
  }

  /**
   * Commits the pending batch and `alsoWrite` in one transaction, now. If that throws, the
   * batch's admissions fail and the error is thrown here too.
   */
  commitNow<T>(alsoWrite: () => T): T {
    return this.commitPending(alsoWrite) as T;
  }

  stats(): GroupCommitStats {
    return {
      batches: this.batches,
      failedBatches: this.failedBatches,
      admissions: this.admissions,
      failedAdmissions: this.failedAdmissions,
      sizes: [...this.sizes].sort((a, b) => a[0] - b[0]).map(([size, batches]) => ({ size, batches })),
      answers: this.answers,
      answerOnlyBatches: this.answerOnlyBatches,
    };
  }

  private scheduleCommit(): Promise<void> {
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.onTimer());
    }
    return this.committed.promise;
  }

  private onLinger(): void {
    this.lingering = false;
    // A timer already scheduled (an admission's) is due first and takes the answers with it.
    if (!this.scheduled) this.onTimer();
  }

  private onTimer(): void {
    this.scheduled = false;
    if (this.batch.isEmpty) return; // commitNow() took it already
    try {
      this.commitPending(null);
    } catch {
      // Every waiter of the batch has the error; the timer has no one to tell.
    }
  }

  private commitPending<T>(alsoWrite: (() => T) | null): T | undefined {
    const batch = this.batch;
    const committed = this.committed;
    this.batch = new PendingBatch();
    this.committed = settledLater();
    if (batch.size > 0) this.count(batch.size);
    else if (batch.answers.length > 0) this.answerOnlyBatches++;
    this.answers += batch.answers.length;
    try {
      const result = this.commit(batch, alsoWrite);
      committed.resolve();
      return result;
    } catch (error) {
      if (batch.size > 0) {
        this.failedBatches++;
        this.failedAdmissions += batch.size;
      }
      committed.reject(error);
      throw error;
    }
  }

  private count(size: number): void {
    this.batches++;
    this.admissions += size;
    this.sizes.set(size, (this.sizes.get(size) ?? 0) + 1);
  }
}

/** A promise to settle later; a rejection nobody awaits is not an unhandled one. */
function settledLater(): PromiseWithResolvers<void> {
  const deferred = Promise.withResolvers<void>();
  deferred.promise.catch(() => {});
  return deferred;
}
