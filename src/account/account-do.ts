// AccountDO: one SQLite-backed object per account, holding its plan, credits, keys and
// usage. A thin, atomic shell around the pure limiter: every decision is synchronous from
// its first read to its last change, so no two requests ever interleave inside one, and
// admissions are committed in groups (batch.ts): decided at once against the committed
// state plus the pending batch, answered only after the commit that holds them. The
// Idempotency-Key records (idempotency-records.ts) and the usage history (usage-history.ts)
// write in the same commits; this file owns the decisions and the order of the writes.
import { DurableObject } from "cloudflare:workers";
import { loadConfig, planLimits, type PlanLimits } from "../config.ts";
import { isoSeconds } from "../envelope.ts";
import { digestsEqual } from "../secrets.ts";
import { GroupCommit, type GroupCommitStats, type PendingBatch, type PendingDebit } from "./batch.ts";
import type { KeptAnswer, NewClaim } from "./idempotency.ts";
import { IdempotencyRecords } from "./idempotency-records.ts";
import { decide, dayNumberOf, type UsageSnapshot } from "./limiter.ts";
import { AccountStore, type StoredState } from "./store.ts";
import type { AccountSummary, AccountView, AdminResult, Admission, AdmitRequest, ClaimOutcome, KeyView, NewKey } from "./types.ts";
import type { UsageHour } from "./usage.ts";
import { UsageHistory } from "./usage-history.ts";
import { accountView, keyView, type StoredKey } from "./view.ts";

/**
 * Request debits and refunds stay in the ledger this long. A refund normally comes within
 * the longest origin timeout a route may set (config.MAX_UPSTREAM_TIMEOUT_MS) plus the 30 s
 * of background retries; one for a 2xx body that streamed longer than this and then broke
 * names its amount (see settle). A refund's own row outlives every retry of that refund by far,
 * so none is ever given twice.
 */
const LEDGER_RETENTION_MS = 3_600_000;
const LEDGER_PRUNE_EVERY_MS = 60_000;
/** Credit movements shown in the account view. */
const LEDGER_VIEW_ROWS = 20;

export class AccountDO extends DurableObject<Env> {
  private readonly store: AccountStore;
  /** The usage history (SPEC 13), written in the commits below. */
  private readonly usage: UsageHistory;
  /** The Idempotency-Key records (SPEC 11); tests lower `idempotency.bounds` on an instance. */
  private readonly idempotency: IdempotencyRecords;
  /**
   * What storage holds, committed; `account` is null until one is created here. Admissions
   * not yet committed are in `commits.pending`, never here.
   */
  private state: StoredState;
  private readonly commits: GroupCommit;
  /** The latest time this object acted on; the clock is never allowed to run backwards. */
  private lastNow = 0;
  private lastLedgerPrune = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new AccountStore(ctx.storage.sql);
    this.usage = new UsageHistory(this.store);
    this.idempotency = new IdempotencyRecords(ctx.storage.sql, (at) => ctx.storage.setAlarm(at));
    if (this.store.exists()) ctx.storage.transactionSync(() => this.store.migrate());
    this.state = this.load();
    this.commits = new GroupCommit((batch, alsoWrite) => this.atomically(() => this.commitBatch(batch, alsoWrite)));
  }

  // ── the request path ─────────────────────────────────────────────────────────────

  /**
   * Key, scope, limits and credits in one atomic step: all taken, or nothing. Decided at
   * once against the committed state and the admissions pending commit; answered once the
   * batch holding this admission is committed, and failing (a fault) if that commit fails.
   */
  async admit(req: AdmitRequest): Promise<Admission> {
    const now = this.clock();
    const { account, keys } = this.state;
    const key = keys.get(req.keyId);
    if (account === null || key === undefined || !keyIsLive(key, now)) return { outcome: "invalid_key" };
    if (!digestsEqual(key.hash, req.keyHash)) return { outcome: "invalid_key" };
    // A refusal's count joins the pending batch (usage.ts); its answer waits for nothing new.
    if (!key.scopes.includes(req.scope) && !key.scopes.includes("*")) {
      this.commits.countRefusal(now, key.id, "forbidden");
      return { outcome: "forbidden", scope: req.scope };
    }

    const pending = this.commits.pending;
    // The key's claim, decided in the same synchronous step as the limits and the credits.
    // Like every decision here, it may have read the pending batch (a claim made a moment
    // ago, an answer waiting to be kept), so it stands only once that batch is committed.
    const idempotency = req.idempotency === undefined ? null : this.idempotency.decide(req.idempotency, pending, now);
    if (idempotency?.kind === "refused") {
      return answerOnce(this.commits.pendingAndAnswersCommitted(), { outcome: "idempotency_refused", refusal: idempotency.refusal });
    }
    const decision = decide(this.limits(), this.snapshot(), pending.admissions, now);
    const balance = account.credits - pending.debited;
    // A denial counted the pending admissions, so it stands only once they are committed.
    if (!decision.admitted) {
      const { deniedBy, retryAfterSeconds, windows } = decision;
      this.commits.countRefusal(now, key.id, "rate_limited");
      return answerOnce(this.commits.pendingCommitted(), { outcome: "rate_limited", deniedBy, retryAfterSeconds, windows });
    }
    // A replay takes its slot like any request (so replays cannot flood the object) and no
    // credit; the usage history does not count it as admitted, since nothing is forwarded.
    if (idempotency?.kind === "replay") {
      const replay: Admission = { outcome: "replay", windows: decision.windows, balance: req.cost > 0 ? balance : null, answer: idempotency.answer };
      return answerOnce(this.commits.join(now, null, null), replay);
    }
    if (balance < req.cost) {
      this.commits.countRefusal(now, key.id, "insufficient_credits");
      return answerOnce(this.commits.pendingCommitted(), { outcome: "insufficient_credits", cost: req.cost, balance });
    }

    const debit: PendingDebit | null = req.cost > 0 ? { at: now, requestId: req.requestId, keyId: key.id, cost: req.cost, balance: balance - req.cost } : null;
    const claim: NewClaim | null = idempotency?.kind === "first" ? { ...req.idempotency!, requestId: req.requestId, at: now, replaces: idempotency.replaces } : null;
    return answerOnce(this.commits.join(now, key.id, debit, claim), { outcome: "admitted", windows: decision.windows, balance: debit === null ? null : debit.balance });
  }

  /**
   * Refunds the debit of `requestId` when the origin did not succeed. Idempotent: a second
   * call (a retry after a lost reply) finds the refund already in the ledger.
   *
   * `debited` is what the Worker knows this request was charged (its admission said so), 0
   * when it does not know (the admission's answer was lost). It is given back only when the
   * ledger no longer holds the request at all: its debit was pruned (LEDGER_RETENTION_MS)
   * while a long body streamed. Returns the balance, or null when this object holds no account.
   */
  settle(requestId: string, debited = 0, claim: ClaimOutcome | null = null): number | null {
    const { account } = this.state;
    if (account === null) return null;
    // A refund does not wait for a batch: it commits now, after the pending admissions and in
    // the same transaction, so the ledger keeps decision order and every pending debit's
    // balance (decided against the committed balance) stays true. A debit still pending is
    // therefore in the ledger by the time the outstanding amount is read.
    const outstanding = (): number => {
      const movements = this.store.movementsOf(requestId);
      return movements.rows > 0 ? -movements.net : debited;
    };
    if (this.commits.pending.size === 0 && claim === null && outstanding() <= 0) return account.credits;
    return this.commits.commitNow(() => {
      const amount = outstanding();
      const now = this.clock();
      if (amount > 0) {
        this.moveCredits(amount, "refund", requestId, now);
        this.usage.countRefund(requestId, amount);
      }
      // `claim` (SPEC 11): released with the refund, or its 4xx kept, in this same write.
      if (claim !== null) this.idempotency.resolve(requestId, claim.key, claim.answer, now);
      return this.state.account!.credits;
    });
  }

  /**
   * The usage history's hours `fromHour` (inclusive) to `toHour` (exclusive), hours since the
   * epoch UTC, as far back as it is kept; null when this object holds no account.
   */
  usageHours(fromHour: number, toHour: number): UsageHour[] | null {
    if (this.state.account === null) return null;
    // Refusals are answered before their counts are committed: commit what is pending first,
    // so the answer holds every request answered before it was asked for.
    if (!this.commits.pending.isEmpty) {
      try {
        this.commits.commitNow(() => undefined);
      } catch {
        // That batch's waiters were told it failed; this answers what storage holds.
      }
    }
    return this.usage.read(fromHour, toHour, this.clock());
  }

  /**
   * The answer of a request that claimed `key` (a 2xx or 3xx, once its body has passed), kept
   * for replay. Only the request that holds the claim can answer it; a claim released or
   * expired meanwhile is left alone.
   */
  async keepAnswer(requestId: string, key: string, answer: KeptAnswer): Promise<void> {
    if (this.state.account === null) return;
    // With the next batch: nobody waits for it but the Worker's background work (batch.ts).
    await this.commits.keepLater({ requestId, key, answer, at: this.clock() });
  }

  /** Prunes expired Idempotency-Key records, and sets itself for the next one to expire. */
  override async alarm(): Promise<void> {
    this.idempotency.alarmFired();
    if (this.state.account === null) return;
    const now = this.clock();
    this.commits.commitNow(() => this.idempotency.pruneExpired(now));
    this.idempotency.scheduleNextPrune(now);
  }

  /** Batch sizes since this object started (bench, operators); not reachable over HTTP. */
  groupCommitStats(): GroupCommitStats {
    return this.commits.stats();
  }

  // ── the admin API ────────────────────────────────────────────────────────────────

  createAccount(input: { id: string; plan: string; credits: number }): AdminResult<AccountView> {
    if (this.state.account !== null) return { ok: false, error: "exists" };
    const now = this.clock();
    this.commits.commitNow(() => {
      this.store.migrate();
      const account = { id: input.id, plan: input.plan, credits: 0 };
      this.store.insertAccount(account, now);
      this.state.account = account;
      if (input.credits > 0) this.moveCredits(input.credits, "initial credits", null, now);
    });
    return { ok: true, value: this.view(now) };
  }

  getAccount(): AccountView | null {
    return this.state.account === null ? null : this.view(this.clock());
  }

  /** The listing's row (SPEC 13): the plan and balance as they are now; null when no account. */
  summary(): AccountSummary | null {
    const { account } = this.state;
    if (account === null) return null;
    return { id: account.id, plan: account.plan, credits: account.credits, created_at: isoSeconds(this.store.createdAt()) };
  }

  updateAccount(input: { plan: string }): AdminResult<AccountView> {
    const { account } = this.state;
    if (account === null) return { ok: false, error: "not_found" };
    // Admin writes, like refunds, commit at once, after the pending admissions (settle()).
    this.commits.commitNow(() => {
      this.store.setPlan(input.plan);
      account.plan = input.plan;
    });
    return { ok: true, value: this.view(this.clock()) };
  }

  adjustCredits(input: { amount: number; reason: string }): AdminResult<{ balance: number }> {
    const { account } = this.state;
    if (account === null) return { ok: false, error: "not_found" };
    const now = this.clock();
    // Against the balance after the pending debits: they are committed first, in the same transaction.
    const available = account.credits - this.commits.pending.debited;
    const balance = available + input.amount;
    if (balance < 0) return { ok: false, error: "negative_balance", balance: available };
    // Past 2^53 the balance could no longer be counted exactly: refused, not a fault.
    if (!Number.isSafeInteger(balance)) return { ok: false, error: "balance_overflow", balance: available };
    this.commits.commitNow(() => this.moveCredits(input.amount, input.reason, null, now));
    return { ok: true, value: { balance } };
  }

  createKey(input: NewKey): AdminResult<KeyView> {
    if (this.state.account === null) return { ok: false, error: "not_found" };
    const key: StoredKey = {
      id: input.keyId,
      hash: input.hash,
      prefix: input.prefix,
      scopes: input.scopes,
      name: input.name,
      createdAt: this.clock(),
      expiresAt: input.expiresAt,
      revokedAt: null,
    };
    this.commits.commitNow(() => {
      this.store.insertKey(key);
      this.state.keys.set(key.id, key);
    });
    return { ok: true, value: keyView(key) };
  }

  revokeKey(keyId: string): AdminResult<KeyView> {
    const key = this.state.keys.get(keyId);
    if (this.state.account === null || key === undefined) return { ok: false, error: "not_found" };
    if (key.revokedAt === null) {
      const now = this.clock();
      this.commits.commitNow(() => {
        this.store.revokeKey(keyId, now);
        key.revokedAt = now;
      });
    }
    return { ok: true, value: keyView(key) };
  }

  // ── internals ────────────────────────────────────────────────────────────────────

  /**
   * Runs `write` as one SQLite transaction. If it throws, SQLite rolls back, and so must
   * the in-memory state: it is reloaded from storage, the source of truth.
   */
  private atomically<T>(write: () => T): T {
    try {
      return this.ctx.storage.transactionSync(write);
    } catch (error) {
      this.state = this.load();
      throw error;
    }
  }

  /** A batch of admissions and refusals, then `alsoWrite`; inside atomically(), so all or nothing. */
  private commitBatch<T>(batch: PendingBatch, alsoWrite: (() => T) | null): T | undefined {
    if (batch.size > 0) {
      const last = batch.admissions.at(-1)!;
      this.recordAdmissions(batch.admissions);
      if (batch.debits.length > 0) this.recordDebits(batch.debits);
      this.idempotency.insertClaims(batch.claims);
      this.pruneLedger(last);
    }
    for (const { requestId, key, answer, at } of batch.answers) this.idempotency.resolve(requestId, key, answer, at);
    this.usage.record(batch.usage);
    // Not before the account (and its tables) exist: createAccount's own write makes them.
    if (this.state.account !== null) this.usage.pruneHourly(this.clock());
    return alsoWrite === null ? undefined : alsoWrite();
  }

  private load(): StoredState {
    this.idempotency.reset();
    const state = this.store.load();
    // After a restart the clock must not run behind what was already recorded.
    this.lastNow = Math.max(this.lastNow, state.minute.times.at(-1) ?? 0);
    return state;
  }

  /** The wall clock. Tests move time by replacing it on an instance (runInDurableObject). */
  protected now(): number {
    return Date.now();
  }

  /** Wall-clock time, never earlier than a time this object already acted on. */
  private clock(): number {
    this.lastNow = Math.max(this.now(), this.lastNow);
    return this.lastNow;
  }

  private limits(): PlanLimits {
    const result = loadConfig(this.env);
    // The Worker refuses every request while the configuration is bad, so this is a fault.
    if (!result.ok) throw new Error(`invalid configuration: ${result.error}`);
    return planLimits(result.config, this.state.account?.plan ?? "default");
  }

  private snapshot(): UsageSnapshot {
    const { minute, day } = this.state;
    return { minuteAdmissions: minute.times, dayNumber: day.dayNumber, dayUsed: day.used };
  }

  /** The day's count once (the batch's last value), the minute's times one row each. */
  private recordAdmissions(times: readonly number[]): void {
    const { minute } = this.state;
    let { dayNumber, used } = this.state.day;
    for (const at of times) {
      const day = dayNumberOf(at);
      used = day === dayNumber ? used + 1 : 1;
      dayNumber = day;
    }
    this.store.saveDay(dayNumber, used);
    this.state.day = { dayNumber, used };

    if (this.limits().perMinute === null) {
      // Unlimited minute: keep nothing, so memory never grows with traffic.
      if (minute.times.length > 0) this.store.dropMinuteBelow(minute.clear());
      return;
    }
    for (const at of times) this.store.appendMinute(minute.append(at), at);
    const dropBelow = minute.compact(times.at(-1)!);
    if (dropBelow !== null) this.store.dropMinuteBelow(dropBelow);
  }

  /** The batch's debits, a ledger row each, and the balance once. */
  private recordDebits(debits: readonly PendingDebit[]): void {
    const account = this.state.account!;
    let balance = account.credits;
    for (const debit of debits) {
      balance -= debit.cost;
      // Each debit was decided against this very balance (refunds and adjustments commit the
      // pending batch first); anything else is a bug, and the whole batch fails closed.
      if (debit.balance !== balance || balance < 0) throw new Error(`debit for ${debit.requestId} was decided at balance ${debit.balance}, the ledger is at ${balance}`);
      this.store.insertLedger({ at: debit.at, delta: -debit.cost, balance, reason: "debit", request_id: debit.requestId, key_id: debit.keyId });
    }
    this.store.setCredits(balance);
    account.credits = balance;
  }

  /** The only place a balance changes: the row, the ledger and the cache move together. */
  private moveCredits(delta: number, reason: string, requestId: string | null, now: number): void {
    const account = this.state.account!;
    const balance = account.credits + delta;
    if (!Number.isSafeInteger(balance) || balance < 0) throw new Error(`balance would become ${balance}`);
    this.store.moveCredits({ at: now, delta, balance, reason, request_id: requestId });
    account.credits = balance;
  }

  private pruneLedger(now: number): void {
    if (now - this.lastLedgerPrune < LEDGER_PRUNE_EVERY_MS) return;
    this.lastLedgerPrune = now;
    this.store.pruneLedger(now - LEDGER_RETENTION_MS);
  }

  private view(now: number): AccountView {
    return accountView({
      account: this.state.account!,
      limits: this.limits(),
      keys: [...this.state.keys.values()],
      usage: this.snapshot(),
      ledger: this.store.recentLedger(LEDGER_VIEW_ROWS),
      now,
    });
  }
}

/**
 * `answer` once `committed` resolves. A failed commit is answered as a value, not thrown: the
 * object knows nothing was taken (the batch rolled back), where a thrown RPC error would leave
 * the Worker unable to tell whether the admission happened.
 */
async function answerOnce(committed: Promise<void>, answer: Admission): Promise<Admission> {
  try {
    await committed;
    return answer;
  } catch (error) {
    return { outcome: "not_committed", error: error instanceof Error ? error.message : String(error) };
  }
}

function keyIsLive(key: StoredKey, now: number): boolean {
  return key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now);
}
