// Fuzzing API key parsing (SPEC section 3): the edge decides "Malformed API key" from the
// string alone, so parseKey must never throw, must accept every key mintKey produced (and
// give back its account and key id), and must refuse every near miss of a real key — the
// typo a user makes, or a forgery that changes one character.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ACCOUNT_ID_PATTERN, KEY_PREFIX, mintKey, parseKey } from "../../src/keys.ts";

const accountId = fc.stringMatching(ACCOUNT_ID_PATTERN);

/** Characters a typo or a forgery may put into a key: base62, the key's separators, and worse. */
const replacement = fc.oneof(
  fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"),
  fc.constantFrom(" ", "\t", "\n", "\r", "\u0000", ".", "=", "/", "+", "é", "０", "\u200b", "😀"),
  fc.string({ minLength: 1, maxLength: 1, unit: "binary" }),
);

describe("parseKey under fuzzing", () => {
  it("never throws on arbitrary strings, and accepts none that fail the shape", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => KEY_PREFIX + s)), (text) => {
        const parsed = parseKey(text);
        if (parsed !== null) {
          // Anything accepted has the documented shape; a random string almost never does.
          expect(text.startsWith(KEY_PREFIX)).toBe(true);
          expect(parsed.key).toBe(text);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("parses every minted key back to its account and key id", async () => {
    await fc.assert(
      fc.asyncProperty(accountId, async (account) => {
        const minted = mintKey(account);
        const parsed = parseKey(minted.key);
        expect(parsed).toEqual({ accountId: account, keyId: minted.keyId, key: minted.key });
        expect(minted.key.startsWith(minted.prefix)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses every single-character substitution of a minted key", () => {
    fc.assert(
      fc.property(accountId, fc.nat(), replacement, (account, at, char) => {
        const { key } = mintKey(account);
        const index = at % key.length;
        fc.pre(key[index] !== char);
        const changed = key.slice(0, index) + char + key.slice(index + 1);
        expect(parseKey(changed), `position ${index} of ${key} → ${JSON.stringify(char)}`).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses every exhaustive single-character change of one minted key (substitution, deletion, insertion, swap)", () => {
    // One key, every position, every base62 character and separator: the exhaustive version of
    // the property above for the characters most likely to be confused.
    const { key } = mintKey("acme-co");
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
    let tried = 0;
    for (let i = 0; i < key.length; i++) {
      for (const char of alphabet) {
        if (char !== key[i]) {
          expect(parseKey(key.slice(0, i) + char + key.slice(i + 1)), `substitute ${i} → ${char}`).toBeNull();
          tried++;
        }
        expect(parseKey(key.slice(0, i) + char + key.slice(i)), `insert ${char} at ${i}`).toBeNull();
      }
      expect(parseKey(key.slice(0, i) + key.slice(i + 1)), `delete ${i}`).toBeNull();
      if (i + 1 < key.length && key[i] !== key[i + 1]) {
        expect(parseKey(key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2)), `swap ${i}`).toBeNull();
      }
    }
    expect(parseKey(key + "a")).toBeNull();
    expect(tried).toBeGreaterThan(key.length * 60);
  });

  it("refuses a minted key with whitespace, case changes or a different prefix", () => {
    fc.assert(
      fc.property(
        accountId,
        fc.constantFrom(
          (k: string) => ` ${k}`,
          (k: string) => `${k}\n`,
          (k: string) => k.toUpperCase(),
          (k: string) => k.replace(KEY_PREFIX, "TGK_"),
          (k: string) => k.replace(KEY_PREFIX, "tgk-"),
          (k: string) => `Bearer ${k}`,
        ),
        (account, mangle) => {
          const { key } = mintKey(account);
          const mangled = mangle(key);
          fc.pre(mangled !== key);
          expect(parseKey(mangled)).toBeNull();
        },
      ),
      { numRuns: 500 },
    );
  });
});
