// API keys (SPEC 3), on Node: the documented format, the checksum refusing every single
// typo, mint → parse round trips, a prefix that never reveals the secret, and randomness
// that looks like uniform base62. Deterministic and exhaustive where fuzz-keys.test.ts
// samples at random.
import { describe, expect, it } from "vitest";
import { randomBase62 } from "../../src/base62.ts";
import { ACCOUNT_ID_PATTERN, KEY_PREFIX, hashKey, keyPrefix, mintKey, parseKey } from "../../src/keys.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_ID_CHARS = 10;
const SECRET_CHARS = 26;
const CHECKSUM_CHARS = 6;
const TAIL_CHARS = KEY_ID_CHARS + SECRET_CHARS + CHECKSUM_CHARS;

/** Every character a single substitution may bring in: base62, the separators, and others. */
const SUBSTITUTES = `${BASE62}-_ .=/+\u0000é`;

const ACCOUNTS = ["acme", "a", "0", "my-team-42", `a${"b-".repeat(31)}`.slice(0, 63)];

describe("the key format", () => {
  it("is tgk_<account>_<key id><secret><checksum>, all base62 after the account", () => {
    for (const accountId of ACCOUNTS) {
      const { key, keyId } = mintKey(accountId);
      expect(key).toMatch(new RegExp(`^tgk_${accountId}_[0-9A-Za-z]{${TAIL_CHARS}}$`));
      expect(key).toHaveLength(KEY_PREFIX.length + accountId.length + 1 + TAIL_CHARS);
      expect(keyId).toMatch(/^[0-9A-Za-z]{10}$/);
      expect(key.slice(KEY_PREFIX.length + accountId.length + 1, -SECRET_CHARS - CHECKSUM_CHARS)).toBe(keyId);
    }
  });

  it("round-trips: parse gives back the account, the key id and the key", () => {
    for (const accountId of ACCOUNTS) {
      for (let i = 0; i < 50; i++) {
        const minted = mintKey(accountId);
        expect(parseKey(minted.key)).toEqual({ accountId, keyId: minted.keyId, key: minted.key });
      }
    }
  });

  it("the longest account id the pattern allows still makes a valid key", () => {
    const accountId = `z${"9".repeat(62)}`;
    expect(accountId).toMatch(ACCOUNT_ID_PATTERN);
    expect(parseKey(mintKey(accountId).key)?.accountId).toBe(accountId);
  });

  it("refuses shapes that are not keys", () => {
    const { key } = mintKey("acme");
    const refused = [
      "",
      KEY_PREFIX,
      key.slice(KEY_PREFIX.length),
      `TGK_${key.slice(4)}`,
      ` ${key}`,
      `${key} `,
      `${key}\n`,
      key.replace("tgk_acme_", "tgk_ACME_"),
      key.replace("tgk_acme_", "tgk_-acme_"),
      key.replace("tgk_acme_", "tgk__"),
      key.replace("tgk_acme_", `tgk_${"a".repeat(64)}_`),
      key.slice(0, -1),
      `${key}0`,
    ];
    for (const text of refused) expect(parseKey(text), JSON.stringify(text)).toBeNull();
  });
});

describe("the checksum", () => {
  it("refuses every single-character substitution, at every position", () => {
    for (const accountId of ["acme", "team-7"]) {
      const { key } = mintKey(accountId);
      let tried = 0;
      for (let index = 0; index < key.length; index++) {
        for (const substitute of SUBSTITUTES) {
          if (substitute === key[index]) continue;
          const typo = key.slice(0, index) + substitute + key.slice(index + 1);
          expect(parseKey(typo), `position ${index} → ${JSON.stringify(substitute)}`).toBeNull();
          tried++;
        }
      }
      expect(tried).toBe(key.length * (SUBSTITUTES.length - 1));
    }
  });

  it("refuses every swap of two neighbouring characters that differ", () => {
    for (let round = 0; round < 20; round++) {
      const { key } = mintKey("acme");
      for (let index = 0; index + 1 < key.length; index++) {
        if (key[index] === key[index + 1]) continue;
        const swapped = key.slice(0, index) + key[index + 1] + key[index] + key.slice(index + 2);
        expect(parseKey(swapped), `swap at ${index}`).toBeNull();
      }
    }
  });

  it("binds the account: the same tail under another account id is refused", () => {
    const { key } = mintKey("acme");
    expect(parseKey(key.replace("tgk_acme_", "tgk_acmf_"))).toBeNull();
    expect(parseKey(key.replace("tgk_acme_", "tgk_evil_"))).toBeNull();
  });
});

describe("the prefix", () => {
  it("is the start of the key up to the key id: recognisable, never usable", () => {
    for (const accountId of ACCOUNTS) {
      const minted = mintKey(accountId);
      expect(minted.prefix).toBe(keyPrefix(accountId, minted.keyId));
      expect(minted.prefix).toBe(`tgk_${accountId}_${minted.keyId}`);
      expect(minted.key.startsWith(minted.prefix)).toBe(true);
      expect(minted.prefix.length).toBeLessThan(minted.key.length);
      // What follows the prefix — the secret and the checksum — is all it leaves out.
      const secret = minted.key.slice(minted.prefix.length, -CHECKSUM_CHARS);
      expect(secret).toHaveLength(SECRET_CHARS);
      expect(minted.prefix).not.toContain(secret);
      expect(parseKey(minted.prefix)).toBeNull();
    }
  });
});

describe("randomness", () => {
  it("never repeats a key id or a secret", () => {
    const ids = new Set<string>();
    const secrets = new Set<string>();
    const count = 5_000;
    for (let i = 0; i < count; i++) {
      const { key, keyId } = mintKey("acme");
      ids.add(keyId);
      secrets.add(key.slice(-SECRET_CHARS - CHECKSUM_CHARS, -CHECKSUM_CHARS));
    }
    expect(ids.size).toBe(count);
    expect(secrets.size).toBe(count);
  });

  it("draws base62 characters uniformly (chi-square, no modulo bias), past one getRandomValues call", () => {
    const counts = new Map<string, number>();
    const samples = 200_000;
    const text = randomBase62(samples);
    expect(text).toHaveLength(samples);
    for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect([...counts.keys()].sort().join("")).toBe([...BASE62].sort().join(""));
    const expected = samples / BASE62.length;
    const chiSquare = [...counts.values()].reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
    // 61 degrees of freedom: the 99.9999th percentile is about 129, so this fails by
    // chance less than once in ten million runs. A byte % 62 without rejection would
    // favour '0'–'7' by 25% and score well above 1000.
    expect(chiSquare).toBeLessThan(140);
  });

  it("keeps the key id and secret random at every position", () => {
    // Each of the 36 random positions must take many values across keys; a fixed or
    // counter-like position would not.
    const keys = Array.from({ length: 400 }, () => mintKey("acme").key.slice("tgk_acme_".length, -CHECKSUM_CHARS));
    for (let position = 0; position < KEY_ID_CHARS + SECRET_CHARS; position++) {
      const seen = new Set(keys.map((k) => k[position]));
      expect(seen.size, `position ${position}`).toBeGreaterThan(40);
    }
  });
});

describe("hashing", () => {
  it("is SHA-256: 32 bytes, the same for the same key, different for another", async () => {
    const { key } = mintKey("acme");
    const [a, b, other] = await Promise.all([hashKey(key), hashKey(key), hashKey(mintKey("acme").key)]);
    expect(a.byteLength).toBe(32);
    expect(new Uint8Array(a)).toEqual(new Uint8Array(b));
    expect(new Uint8Array(a)).not.toEqual(new Uint8Array(other));
    const known = new Uint8Array(await hashKey("abc"));
    expect([...known].map((byte) => byte.toString(16).padStart(2, "0")).join("")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
