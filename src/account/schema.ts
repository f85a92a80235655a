// The account object's SQLite schema, versioned. Migrations only ever append: a deployed
// object upgrades in place, in order, exactly once (the version row says where it stands).

const MIGRATIONS: readonly string[] = [
  // v1
  `CREATE TABLE account (
     id TEXT PRIMARY KEY,
     plan TEXT NOT NULL,
     credits INTEGER NOT NULL CHECK (credits >= 0),
     created_at INTEGER NOT NULL
   );
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     hash BLOB NOT NULL,              -- SHA-256 of the key; the key itself is never stored
     prefix TEXT NOT NULL,
     scopes TEXT NOT NULL,            -- JSON array of strings
     name TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER
   );
   CREATE TABLE day_usage (
     singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
     day INTEGER NOT NULL,            -- days since the epoch, UTC
     used INTEGER NOT NULL CHECK (used >= 0)
   );
   CREATE TABLE minute_admissions (
     seq INTEGER PRIMARY KEY,         -- consecutive; the rolling minute is a suffix
     at INTEGER NOT NULL
   );
   CREATE TABLE ledger (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     request_id TEXT,
     delta INTEGER NOT NULL,
     balance INTEGER NOT NULL CHECK (balance >= 0),
     reason TEXT NOT NULL
   );
   CREATE INDEX ledger_by_request ON ledger (request_id) WHERE request_id IS NOT NULL;`,
  // v2: the usage history (SPEC 13, usage.ts). A debit's row names its key, so its refund is
  // counted against that key in the debit's hour; rows from before have none (not counted).
  `ALTER TABLE ledger ADD COLUMN key_id TEXT;
   CREATE TABLE usage_hours (
     hour INTEGER NOT NULL,           -- hours since the epoch, UTC
     key_id TEXT NOT NULL,
     admitted INTEGER NOT NULL,
     origin_failed INTEGER NOT NULL,
     insufficient_credits INTEGER NOT NULL,
     forbidden INTEGER NOT NULL,
     rate_limited INTEGER NOT NULL,
     credits_spent INTEGER NOT NULL,  -- debits less refunds
     PRIMARY KEY (hour, key_id)       -- reads and pruning are ranges of hours
   ) WITHOUT ROWID;`,
  // v3: Idempotency-Key records (SPEC 11; account/idempotency-store.ts)
  `CREATE TABLE idempotency_keys (
     key TEXT PRIMARY KEY,            -- the header's value, as sent
     fingerprint TEXT NOT NULL,       -- SHA-256 hex of method, path, query and body
     request_id TEXT NOT NULL,        -- the request that claimed it: only it may answer or release it
     claimed_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('in_flight', 'response', 'envelope', 'too_large', 'not_kept')),
     status INTEGER,                  -- response: the origin's status, reason phrase, headers (JSON pairs), body
     status_text TEXT,
     headers TEXT,
     body BLOB,
     code TEXT,                       -- envelope: the code and message a 4xx became
     message TEXT
   );
   CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** True once this object holds an account: reading it creates nothing. */
export function hasSchema(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray().length > 0;
}

/** Brings the schema to SCHEMA_VERSION. Idempotent; call inside a transaction. */
export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  const current = row?.version ?? 0;
  for (let v = current; v < MIGRATIONS.length; v++) sql.exec(MIGRATIONS[v]!);
  if (row === undefined) sql.exec("INSERT INTO schema_version (version) VALUES (?)", SCHEMA_VERSION);
  else if (current !== SCHEMA_VERSION) sql.exec("UPDATE schema_version SET version = ?", SCHEMA_VERSION);
}
