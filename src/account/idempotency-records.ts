// An account's Idempotency-Key records (SPEC 11) as AccountDO uses them: what a request's
// key meets, a batch's claims written, an answer kept or a claim released, and the alarm that
// prunes what expired. The decisions are idempotency.ts's (pure), the SQL idempotency-store.ts's;
// this holds what joins them to the object — its bounds, the pending batch's claims, and when
// the pruning alarm is set for. Every method runs inside the object's synchronous step or its
// transactionSync, like the rest of AccountDO.
import type { PendingAnswer, PendingBatch } from "./batch.ts";
import {
  DEFAULT_IDEMPOTENCY_BOUNDS,
  answerToKeep,
  decideClaim,
  expiryOf,
  secondsUntil,
  type ClaimDecision,
  type IdempotencyBounds,
  type IdempotencyClaim,
  type KeptAnswer,
  type NewClaim,
} from "./idempotency.ts";
import { IdempotencyStore, type StoredClaim } from "./idempotency-store.ts";

/** Expired records are pruned by an alarm, at most this often. */
const PRUNE_EVERY_MS = 60_000;

/** What a key meets: as decideClaim says, and for a first claim whether it replaces an expired record. */
export type KeyDecision = Exclude<ClaimDecision, { kind: "first" }> | { kind: "first"; replaces: boolean };

export class IdempotencyRecords {
  /** Bounds of the account's records; tests lower them on an instance. */
  bounds: IdempotencyBounds = DEFAULT_IDEMPOTENCY_BOUNDS;
  private readonly store: IdempotencyStore;
  private readonly setAlarm: (at: number) => Promise<void>;
  /** When the pruning alarm is set for, as far as this instance knows; null: none or unknown. */
  private alarmAt: number | null = null;

  constructor(sql: SqlStorage, setAlarm: (at: number) => Promise<void>) {
    this.store = new IdempotencyStore(sql);
    this.setAlarm = setAlarm;
  }

  /** Forget what memory holds of storage (a transaction rolled back, or the object started). */
  reset(): void {
    this.store.reset();
    this.alarmAt = null;
  }

  /**
   * What a request with an Idempotency-Key meets: its record as the pending batch leaves it
   * (a claim made a moment ago, or an answer waiting to be committed) or as committed, and for
   * a new key, room under the account's bound — past it, a new key is refused (409) rather
   * than run without the guarantee. Like every decision that reads the pending batch, it
   * stands only once that batch is committed.
   */
  decide(claim: IdempotencyClaim, pending: Pick<PendingBatch, "claims" | "answers">, now: number): KeyDecision {
    const claimed = pending.claims.get(claim.key);
    const stored = claimed === undefined ? this.store.find(claim.key) : { fingerprint: claimed.fingerprint, requestId: claimed.requestId, claimedAt: claimed.at, expiresAt: expiryOf(claimed.at), answer: null };
    const record = stored === null ? null : this.withPendingAnswer(claim.key, stored, pending.answers);
    const decision = decideClaim(record, claim.fingerprint, now);
    if (decision.kind !== "first") return decision;
    const first = { kind: "first", replaces: record !== null } as const;

    const { maxRecords } = this.bounds;
    const held = this.store.records + pending.claims.size;
    if (held < maxRecords || held - this.store.expiredBy(now) < maxRecords) return first;
    const freedAt = this.store.nextExpiryAfter(now) ?? expiryOf(now);
    return { kind: "refused", refusal: { reason: "full", retryAfterSeconds: secondsUntil(freedAt, now) } };
  }

  /**
   * The record once the pending batch is committed: an answer waiting there for this very
   * claim is as good as kept. Without this, a repeat sent the moment the first answer reached
   * its client — while that answer lingers in the batch (batch.ts) — would be told the first
   * is still in progress. The answer is judged against the bytes kept plus those of the
   * answers ahead of it in the batch, as the commit will judge it (counting them all as kept:
   * if one is not, this one is refused as not kept where it would have been kept — a 409,
   * never a second action).
   */
  private withPendingAnswer(key: string, record: StoredClaim, answers: readonly PendingAnswer[]): StoredClaim {
    if (record.answer !== null) return record;
    let keptBytes = this.store.keptBytes;
    for (const waiting of answers) {
      if (waiting.key === key && waiting.requestId === record.requestId) {
        return { ...record, expiresAt: expiryOf(waiting.at), answer: answerToKeep(waiting.answer, keptBytes, this.bounds) };
      }
      if (waiting.answer.kind === "response") keptBytes += waiting.answer.body.byteLength;
    }
    return record;
  }

  /** A batch's claims, written with its admissions. */
  insertClaims(claims: ReadonlyMap<string, NewClaim>): void {
    if (claims.size === 0) return;
    this.store.insertClaims(claims.values());
    this.schedulePruning(expiryOf(claims.values().next().value!.at));
  }

  /** Keeps `answer` for the claim `requestId` holds on `key`, or releases it when `answer` is null. */
  resolve(requestId: string, key: string, answer: KeptAnswer | null, now: number): void {
    if (answer === null) {
      this.store.release(key, requestId);
      return;
    }
    const kept = answerToKeep(answer, this.store.keptBytes, this.bounds);
    if (this.store.answer(key, requestId, kept, now)) this.schedulePruning(expiryOf(now));
  }

  /** The pruning alarm has fired: none is set now. */
  alarmFired(): void {
    this.alarmAt = null;
  }

  /** Deletes what expired by `now`, inside the caller's transaction. */
  pruneExpired(now: number): void {
    this.store.pruneExpired(now);
  }

  /** After a prune: sets the alarm for the next record to expire, at most one a minute. */
  scheduleNextPrune(now: number): void {
    const next = this.store.nextExpiryAfter(now);
    if (next !== null) this.schedulePruning(Math.max(next, now + PRUNE_EVERY_MS));
  }

  /** Makes sure the pruning alarm fires by `at`. */
  private schedulePruning(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    // Under the output gate like every write; a failure is the runtime's to report, and the
    // next write sets it again.
    this.setAlarm(at).catch(() => {
      this.alarmAt = null;
    });
  }
}
