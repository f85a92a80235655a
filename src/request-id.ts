import { randomBase62 } from "./base62.ts";

/** 22 base62 characters: about 131 random bits, above SPEC 2's 96. */
const REQUEST_ID_CHARS = 22;

export function newRequestId(): string {
  return `req_${randomBase62(REQUEST_ID_CHARS)}`;
}
