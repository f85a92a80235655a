// The directory object's SQLite schema, versioned the same way as the account object's
// (src/account/schema.ts): migrations only ever append, and each runs exactly once.

const MIGRATIONS: readonly string[] = [
  // v1
  `CREATE TABLE accounts (
     id TEXT PRIMARY KEY,             -- the account id; listing pages walk this index in order
     registered_at INTEGER NOT NULL   -- epoch ms of the latest registration (see forgetPhantoms)
   ) WITHOUT ROWID;`,
];

export const DIRECTORY_SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the schema to DIRECTORY_SCHEMA_VERSION. Idempotent; call inside a transaction. */
export function migrateDirectory(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  const current = row?.version ?? 0;
  for (let v = current; v < MIGRATIONS.length; v++) sql.exec(MIGRATIONS[v]!);
  if (row === undefined) sql.exec("INSERT INTO schema_version (version) VALUES (?)", DIRECTORY_SCHEMA_VERSION);
  else if (current !== DIRECTORY_SCHEMA_VERSION) sql.exec("UPDATE schema_version SET version = ?", DIRECTORY_SCHEMA_VERSION);
}
