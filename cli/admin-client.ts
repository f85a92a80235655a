// A small client for the gateway's own endpoints (SPEC section 7). It returns the success
// envelope's `data` and turns every other outcome into one of the CLI's errors: the
// gateway's error envelope, an answer that is not Tollgate's, or no answer at all.
import { ApiError, CliError, EXIT, UnreachableError, type Envelope } from "./errors.ts";

export interface ClientOptions {
  /** The gateway's base URL, without a trailing slash. */
  url: string;
  token: string | null;
  timeoutMs: number;
}

export interface Success<T> {
  data: T;
  requestId: string | null;
}

export async function callGateway<T>(options: ClientOptions, method: string, path: string, body?: unknown): Promise<Success<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.token !== null) headers.Authorization = `Bearer ${options.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";

  let status: number;
  let text: string;
  try {
    const response = await fetch(`${options.url}/_gateway${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // The admin API never redirects; following one could carry the token elsewhere.
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    throw new UnreachableError(options.url, networkReason(error, options.timeoutMs));
  }
  return readEnvelope<T>(status, text, options.url);
}

function readEnvelope<T>(status: number, text: string, url: string): Success<T> {
  const json = parseJson(text);
  const meta = record(json?.meta);
  const requestId = typeof meta?.request_id === "string" ? meta.request_id : null;
  if (json?.success === true && status >= 200 && status < 300 && "data" in json) {
    return { data: json.data as T, requestId };
  }
  const error = record(json?.error);
  if (json?.success === false && typeof error?.code === "string" && typeof error.message === "string") {
    const envelope: Envelope = {
      status,
      code: error.code,
      message: error.message,
      requestId,
      retryAfter: typeof meta?.retry_after === "number" ? meta.retry_after : null,
    };
    throw new ApiError(envelope, url);
  }
  throw new CliError(`the server at ${url} answered HTTP ${status} without a Tollgate envelope; is --url a Tollgate gateway?`, EXIT.api);
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    return record(JSON.parse(text));
  } catch {
    return null;
  }
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
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
