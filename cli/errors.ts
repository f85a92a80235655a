// The CLI's failures, each with its exit code. The entry point prints them as one line on
// stderr; nothing else in the CLI decides how a failure looks or how the process ends.

export const EXIT = {
  ok: 0,
  /** The gateway answered, but with an error (an envelope, a refused token, a non-Tollgate answer). */
  api: 1,
  /** The command line itself is wrong; nothing was sent. */
  usage: 2,
  /** Nothing answered: connection refused, unknown host, timeout. */
  unreachable: 3,
} as const;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(`${message} (see 'tollgate help')`, EXIT.usage);
    this.name = "UsageError";
  }
}

export class UnreachableError extends CliError {
  constructor(url: string, reason: string) {
    super(`cannot reach the gateway at ${url}: ${reason}`, EXIT.unreachable);
    this.name = "UnreachableError";
  }
}

/** The gateway's error envelope (SPEC section 1), as received. */
export interface Envelope {
  status: number;
  code: string;
  message: string;
  requestId: string | null;
  retryAfter: number | null;
}

export class ApiError extends CliError {
  readonly envelope: Envelope;
  constructor(envelope: Envelope, url: string) {
    super(describeEnvelope(envelope, url), EXIT.api);
    this.name = "ApiError";
    this.envelope = envelope;
  }
}

function describeEnvelope(envelope: Envelope, url: string): string {
  const details: string[] = [];
  if (envelope.requestId !== null) details.push(`request ${envelope.requestId}`);
  if (envelope.retryAfter !== null) details.push(`retry after ${envelope.retryAfter} s`);
  const summary = `${envelope.code} (HTTP ${envelope.status}): ${envelope.message}${details.length > 0 ? ` [${details.join(", ")}]` : ""}`;
  // A refused token is the one mistake worth a hint: it is always the operator's to fix.
  if (envelope.status === 401) return `the gateway at ${url} refused the admin token: ${summary}; check --token or TOLLGATE_ADMIN_TOKEN`;
  return summary;
}
