// One spelling per path (SPEC section 10), so a route's scope cannot be walked around by
// another spelling the origin reads as the same resource. Pure and total: every string gets
// a canonical path or a refusal, in one linear pass over at most MAX_PATH_CHARS characters.
//
// The input is `new URL(request.url).pathname`: the URL parser has already resolved plain
// and %2e dot segments, turned `\` into `/`, dropped the fragment and %-encoded spaces,
// quotes and non-ASCII text. It has NOT merged `//`, decoded %61, upper-cased hex, touched
// `;` or %2F, or checked escapes (`%zz` arrives as is). This module does all of it anyway,
// so its answer does not depend on what a runtime happened to do first.

/** Longer paths are refused (Cloudflare's own URL limit is 16 KB); bounds the work per request. */
export const MAX_PATH_CHARS = 16_384;

export const MALFORMED_PATH = "Malformed request path";
export const PATH_TOO_LONG = `Request path too long: at most ${MAX_PATH_CHARS} characters`;

export type CanonicalPath =
  /** `encodedSlash`: the path holds %2F, refused unless the matched route sets encoded_slashes. */
  | { ok: true; path: string; encodedSlash: boolean }
  | { ok: false; message: string };

const HEX = "0123456789ABCDEF";

/** RFC 3986 unreserved: an escape of one of these means the character itself (step 1). */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39) ||
    code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e
  );
}

/**
 * ASCII kept as it is: RFC 3986's pchar (unreserved, `:`, `@` and the sub-delimiters) but
 * `;`, and `[ ] | ^`, which the URL parser leaves alone too. Every other printable character is
 * %-encoded the way the URL parser would, so `new URL(canonical)` gives the canonical path back.
 */
const KEEP_RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@[]|^") KEEP_RAW[c.charCodeAt(0)] = 1;

/** Encoded characters refused on every route (step 5); %2F is decided by the route. */
function isRefusedByte(byte: number): boolean {
  return byte === 0x5c || byte === 0x25 || byte < 0x20 || byte === 0x7f;
}

/**
 * Already canonical, the common case: `/`-separated segments of kept characters, none of them
 * empty (but a trailing slash), `.` or `..`. Checked first so a typical path costs one regex.
 */
const CANONICAL = /^(?:(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@[\]|^]+)+\/?|\/)$/;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function escapeByte(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

const utf8 = new TextEncoder();

/** Steps 1, 2 and 5 of SPEC 10 (step 5's %2F exception aside). */
export function canonicalPath(pathname: string): CanonicalPath {
  if (pathname.length > MAX_PATH_CHARS) return { ok: false, message: PATH_TOO_LONG };
  if (CANONICAL.test(pathname)) return { ok: true, path: pathname, encodedSlash: false };

  const segments: string[] = [];
  let segment = "";
  let encodedSlash = false;
  const length = pathname.length;

  // Ends the segment being built: a dot segment removes itself (and `..` its parent), an
  // empty one (a run of slashes) disappears. false: the segment hides a dot segment.
  const close = (): boolean => {
    if (segment === "..") segments.pop();
    else if (segment !== "" && segment !== ".") {
      // With %2F let through on some routes, an origin that decodes it would read `..%2F` as
      // a dot segment of its own, out of the route's reach: never let one hide there.
      if (encodedSlash && segment.includes("%2F") && segment.split("%2F").some((piece) => piece === "." || piece === "..")) return false;
      segments.push(segment);
    }
    segment = "";
    return true;
  };

  for (let i = 0; i < length; i++) {
    const code = pathname.charCodeAt(i);
    if (code === 0x2f || code === 0x5c) {
      // `\` is a separator, as the URL parser reads it in http(s) URLs.
      if (!close()) return { ok: false, message: MALFORMED_PATH };
    } else if (code === 0x25) {
      const high = i + 2 < length ? hexValue(pathname.charCodeAt(i + 1)) : -1;
      const low = high < 0 ? -1 : hexValue(pathname.charCodeAt(i + 2));
      if (low < 0) return { ok: false, message: MALFORMED_PATH }; // `%zz`, a lone `%`
      const byte = high * 16 + low;
      i += 2;
      if (isUnreserved(byte)) segment += String.fromCharCode(byte);
      else if (byte === 0x2f) {
        segment += "%2F";
        encodedSlash = true;
      } else if (isRefusedByte(byte)) return { ok: false, message: MALFORMED_PATH };
      else segment += escapeByte(byte);
    } else if (code === 0x3b || code < 0x20 || code === 0x7f) {
      // `;` starts Tomcat's path parameters; a raw control character is no URL path.
      return { ok: false, message: MALFORMED_PATH };
    } else if (code < 0x80) {
      segment += KEEP_RAW[code] === 1 ? pathname[i] : escapeByte(code);
    } else {
      // Non-ASCII text, as UTF-8 escapes; a lone surrogate has no UTF-8 form.
      let end = i + 1;
      while (end < length && pathname.charCodeAt(end) >= 0x80) end++;
      const text = pathname.slice(i, end);
      if (!text.isWellFormed()) return { ok: false, message: MALFORMED_PATH };
      for (const byte of utf8.encode(text)) segment += escapeByte(byte);
      i = end - 1;
    }
  }
  // `/a/`, `/a/.` and `/a/b/..` all name the directory /a/ (RFC 3986 §5.2.4).
  const last = pathname.charCodeAt(length - 1);
  const trailingSlash = last === 0x2f || last === 0x5c || segment === "." || segment === "..";
  if (!close()) return { ok: false, message: MALFORMED_PATH };

  const path = segments.length === 0 ? "/" : `/${segments.join("/")}${trailingSlash ? "/" : ""}`;
  return { ok: true, path, encodedSlash };
}
