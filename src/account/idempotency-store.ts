// The SQL of Idempotency-Key records (SPEC 11), beside store.ts and like it: rows only, no
// decisions (account/idempotency.ts decides), always inside the object's transactionSync.
// It also counts what the account holds (records, bytes kept) so the bounds cost no query;
// the counts are read once from the table and dropped with the rest of the memory whenever
// a transaction rolls back.
import { expiryOf, type ClaimRecord, type KeptAnswer, type NewClaim } from "./idempotency.ts";

/** A record as stored: what a decision needs, and the request that holds the claim. */
export interface StoredClaim extends ClaimRecord {
  requestId: string;
}

type Row = {
  fingerprint: string;
  request_id: string;
  claimed_at: number;
  expires_at: number;
  state: "in_flight" | "response" | "envelope" | "too_large" | "not_kept";
  status: number | null;
  status_text: string | null;
  headers: string | null;
  body: ArrayBuffer | null;
  code: string | null;
  message: string | null;
};

export class IdempotencyStore {
  private readonly sql: SqlStorage;
  private counts: { records: number; keptBytes: number } | null = null;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** Forget the counts (the transaction they described rolled back); read again when next needed. */
  reset(): void {
    this.counts = null;
  }

  /** Records held, expired ones not yet pruned included. */
  get records(): number {
    return this.count().records;
  }

  /** Bytes of answer bodies held. */
  get keptBytes(): number {
    return this.count().keptBytes;
  }

  find(key: string): StoredClaim | null {
    const row = this.sql
      .exec<Row>("SELECT fingerprint, request_id, claimed_at, expires_at, state, status, status_text, headers, body, code, message FROM idempotency_keys WHERE key = ?", key)
      .toArray()[0];
    if (row === undefined) return null;
    return { fingerprint: row.fingerprint, requestId: row.request_id, claimedAt: row.claimed_at, expiresAt: row.expires_at, answer: answerOf(row) };
  }

  /** Claims of a batch. A key's earlier record, if any, has expired (decideClaim): it is replaced. */
  insertClaims(claims: Iterable<NewClaim>): void {
    const counts = this.count();
    let replaced = false;
    for (const claim of claims) {
      this.sql.exec(
        `INSERT ${claim.replaces ? "OR REPLACE " : ""}INTO idempotency_keys (key, fingerprint, request_id, claimed_at, expires_at, state) VALUES (?, ?, ?, ?, ?, 'in_flight')`,
        claim.key,
        claim.fingerprint,
        claim.requestId,
        claim.at,
        expiryOf(claim.at),
      );
      counts.records++;
      replaced ||= claim.replaces;
    }
    // A record replaced before the alarm pruned it (rare): count again when next needed.
    if (replaced) this.counts = null;
  }

  /**
   * The answer of the claim `requestId` holds on `key`; false when it holds none (released,
   * expired, or claimed since by another request), and nothing changes.
   */
  answer(key: string, requestId: string, answer: KeptAnswer, now: number): boolean {
    const response = answer.kind === "response" ? answer : null;
    const envelope = answer.kind === "envelope" ? answer : null;
    const cursor = this.sql.exec(
      `UPDATE idempotency_keys SET state = ?, expires_at = ?, status = ?, status_text = ?, headers = ?, body = ?, code = ?, message = ?
       WHERE key = ? AND request_id = ? AND state = 'in_flight'`,
      answer.kind,
      expiryOf(now),
      response?.status ?? null,
      response?.statusText ?? null,
      response === null ? null : JSON.stringify(response.headers),
      response?.body ?? null,
      envelope?.code ?? null,
      envelope?.message ?? null,
      key,
      requestId,
    );
    if (cursor.rowsWritten === 0) return false;
    this.count().keptBytes += response?.body.byteLength ?? 0;
    return true;
  }

  /** Deletes the claim `requestId` holds on `key` while it is still in flight; false when it holds none. */
  release(key: string, requestId: string): boolean {
    const cursor = this.sql.exec("DELETE FROM idempotency_keys WHERE key = ? AND request_id = ? AND state = 'in_flight'", key, requestId);
    if (cursor.rowsWritten === 0) return false;
    this.count().records--;
    return true;
  }

  /** Records expired at `now` but not yet pruned. */
  expiredBy(now: number): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM idempotency_keys WHERE expires_at <= ?", now).one().n;
  }

  /** When the first record still alive at `now` expires, or null when none is. */
  nextExpiryAfter(now: number): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT min(expires_at) AS at FROM idempotency_keys WHERE expires_at > ?", now).one().at;
  }

  /** Deletes every record expired at `now`. */
  pruneExpired(now: number): void {
    const cursor = this.sql.exec("DELETE FROM idempotency_keys WHERE expires_at <= ?", now);
    if (cursor.rowsWritten > 0) this.counts = null;
  }

  private count(): { records: number; keptBytes: number } {
    this.counts ??= this.sql
      .exec<{ records: number; keptBytes: number }>("SELECT count(*) AS records, coalesce(sum(length(body)), 0) AS keptBytes FROM idempotency_keys")
      .one();
    return this.counts;
  }
}

function answerOf(row: Row): KeptAnswer | null {
  switch (row.state) {
    case "in_flight":
      return null;
    case "response":
      return { kind: "response", status: row.status!, statusText: row.status_text ?? "", headers: JSON.parse(row.headers ?? "[]") as string[][], body: row.body ?? new ArrayBuffer(0) };
    case "envelope":
      return { kind: "envelope", code: row.code as Extract<KeptAnswer, { kind: "envelope" }>["code"], message: row.message ?? "" };
    case "too_large":
    case "not_kept":
      return { kind: row.state };
  }
}
