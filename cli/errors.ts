// The CLI's failures, each with its exit code. The entry point prints them as one line on
// stderr; nothing else in the CLI decides how a failure looks or how the process ends.
import type { ApiError } from "../src/client/errors.ts";

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

/**
 * What an admin client failure (src/client/admin.ts) means to an operator: the envelope's
 * code, message and request id; an answer that is not Tollgate's; or nothing at all.
 */
export function cliErrorFrom(error: ApiError, url: string, timeoutMs: number): CliError {
  if (error.code === "NETWORK_ERROR") return new UnreachableError(url, networkReason(error.cause, timeoutMs));
  if (error.code === "UNEXPECTED_RESPONSE") {
    return new CliError(`the server at ${url} answered HTTP ${error.status} without a Tollgate envelope; is --url a Tollgate gateway?`, EXIT.api);
  }
  return new CliError(describeEnvelope(error, url), EXIT.api);
}

function describeEnvelope(error: ApiError, url: string): string {
  const details: string[] = [];
  if (error.requestId !== null) details.push(`request ${error.requestId}`);
  if (error.retryAfter !== null) details.push(`retry after ${error.retryAfter} s`);
  const summary = `${error.code} (HTTP ${error.status}): ${error.message}${details.length > 0 ? ` [${details.join(", ")}]` : ""}`;
  // A refused token is the one mistake worth a hint: it is always the operator's to fix.
  if (error.status === 401) return `the gateway at ${url} refused the admin token: ${summary}; check --token or TOLLGATE_ADMIN_TOKEN`;
  return summary;
}

/** Why nothing answered, in a few words an operator can act on. */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${timeoutMs} ms (timeout)`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === "string" ? cause.code : "";
  const reasons: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host not found (DNS lookup failed)",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ETIMEDOUT: "connection timed out",
    UND_ERR_CONNECT_TIMEOUT: "connection timed out",
    UND_ERR_SOCKET: "the connection closed unexpectedly",
  };
  if (reasons[code] !== undefined) return reasons[code];
  if (typeof cause?.message === "string" && cause.message !== "") return cause.message;
  return error instanceof Error ? error.message : String(error);
}
