// The usage text of `tollgate help` (docs/cli.md says the same at more length).
import { DEFAULT_TIMEOUT_MS, DEFAULT_URL } from "./args.ts";

export const HELP = `tollgate — the operator CLI of a Tollgate gateway (its admin API under /_gateway/)

Usage: tollgate <command> [options]

Commands:
  accounts list [--prefix P] [--limit N] [--cursor C] [--all]
                                                  the accounts, in id order, a page at a time
  accounts create <id> [--plan P] [--credits N]   create an account
  accounts show <id>                              plan, credits, usage and keys
  accounts set-plan <id> <plan>                   move an account to another plan
  credits add <id> <amount> [--reason R]          add credits; a negative amount removes them
  keys create <account> --scopes read,write [--name N] [--expires-at ISO]
                                                  create a key; its plaintext is shown only once
  keys list <account>                             the account's keys
  keys revoke <account> <key_id>                  revoke a key; it is refused from then on
  usage <account> [--days N]                      requests by outcome and credits spent, per UTC
                                                  day and key, for the last N days (default 7, at most 31)
  health                                          is the gateway up? (needs no token)
  help                                            this text

Options:
  --url URL        the gateway (env TOLLGATE_URL, default ${DEFAULT_URL})
  --token TOKEN    the admin token (env TOLLGATE_ADMIN_TOKEN; prefer the variable:
                   arguments are visible to other users of the machine)
  --json           print the answer's data as JSON instead of tables
  --timeout MS     give up waiting for the gateway after MS milliseconds (default ${DEFAULT_TIMEOUT_MS})
  -h, --help       this text

Exit codes: 0 ok, 1 the gateway answered with an error, 2 usage error, 3 gateway unreachable.
`;
