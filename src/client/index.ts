// The client SDK's public surface: `import { createClient, ApiError } from "tollgate/client"`.
export { createClient, type AttemptInfo, type Client, type ClientOptions, type FetchLike, type RequestOptions } from "./client.ts";
export { ApiError, ENVELOPE_CODES, isEnvelopeCode, type ApiErrorFields, type ClientErrorCode, type EnvelopeCode, type LimitName } from "./errors.ts";
export type { ClientResponse } from "./response.ts";
export { newIdempotencyKey } from "./idempotency-key.ts";
export { DEFAULT_RETRY_POLICY, backoffMs, decideRetry, isIdempotent, parseRetryAfter, type RetryOptions, type RetryPolicy } from "./retry.ts";
export { timerSleep, type Sleep } from "./sleep.ts";
