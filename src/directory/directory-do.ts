// AccountDirectory: the one object that knows which accounts exist, so the admin API can list
// them (SPEC 13). Durable Objects cannot be enumerated by name, hence this index.
//
// It holds ids only — never plan or credits, which change inside each account's own object
// on every paid request; the listing asks each account object for those (src/admin/
// list-accounts.ts). It is written only by the admin API, never on the request path, so it
// costs the proxy nothing and one object is enough.
//
// The admin API registers an id BEFORE it creates the account object. The directory is
// therefore a superset of the accounts: an id whose creation then failed (a "phantom") is
// hidden by the listing, which finds no account behind it, and forgotten here once it is
// old enough that no creation can still be under way. The opposite order could leave an
// account that exists but is never listed — a state nothing would ever repair.
import { DurableObject } from "cloudflare:workers";
import { migrateDirectory } from "./schema.ts";

/**
 * A phantom younger than this is kept: its account may still be in the middle of being
 * created (registration and creation are two calls). Far longer than one admin request.
 */
export const PHANTOM_GRACE_MS = 10 * 60_000;

/** Every account id sorts below this: ids are [a-z0-9-], all before "~" in byte order. */
const AFTER_EVERY_ID = "~";

export interface IdRange {
  /** Only ids that start with this ("" for all). */
  prefix: string;
  /** Only ids after this one (exclusive); null to start at the first. */
  after: string | null;
  /** At most this many ids. */
  limit: number;
}

export class AccountDirectory extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => migrateDirectory(this.sql));
  }

  /** Lists `accountId`. Idempotent; a repeat only renews the phantom grace period. */
  register(accountId: string): void {
    this.sql.exec(
      "INSERT INTO accounts (id, registered_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET registered_at = excluded.registered_at",
      accountId,
      this.now(),
    );
  }

  /** Ids in byte order: the prefix as a range of the primary key, so a page reads only its rows. */
  ids(range: IdRange): string[] {
    const rows = this.sql.exec<{ id: string }>(
      "SELECT id FROM accounts WHERE id >= ? AND id < ? AND id > ? ORDER BY id LIMIT ?",
      range.prefix,
      range.prefix + AFTER_EVERY_ID,
      range.after ?? "",
      Math.max(0, Math.floor(range.limit)),
    );
    return rows.toArray().map((row) => row.id);
  }

  /**
   * Forgets ids the listing found no account behind, unless registered within the grace
   * period. Returns how many were forgotten.
   */
  forgetPhantoms(accountIds: readonly string[]): number {
    const before = this.now() - PHANTOM_GRACE_MS;
    let forgotten = 0;
    this.ctx.storage.transactionSync(() => {
      for (const id of accountIds) {
        const cursor = this.sql.exec("DELETE FROM accounts WHERE id = ? AND registered_at < ?", id, before);
        cursor.toArray(); // runs the statement to its end, so rowsWritten is final
        forgotten += cursor.rowsWritten;
      }
    });
    return forgotten;
  }

  /** The wall clock. Tests move time by replacing it on an instance (runInDurableObject). */
  protected now(): number {
    return Date.now();
  }
}
