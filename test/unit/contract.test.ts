// docs/contract.md is the users' copy of the contract; this keeps it in step with what src/
// defines: the code table, the fixed messages, the defaults and every configuration field.
// A failure names what differs and where, so the fix is to change one or the other on purpose.
import { describe, expect, it } from "vitest";
import contract from "../../docs/contract.md?raw";
import { AUTH_MESSAGES, denialSpec } from "../../src/authenticate.ts";
import { CONFIG_FIELDS, DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_UPSTREAM_TIMEOUT_MS } from "../../src/config.ts";
import { ERROR_STATUS, JSON_CONTENT_TYPE, rateLimitMessage } from "../../src/envelope.ts";
import { MAX_IDEMPOTENT_BODY_BYTES } from "../../src/account/idempotency.ts";
import { REFUSAL_MESSAGES, REPLAYED_HEADER, refusalSpec } from "../../src/idempotency/answers.ts";
import { ACCOUNT_ID_PATTERN } from "../../src/keys.ts";
import { UPSTREAM_UNAVAILABLE } from "../../src/upstream/upstreams.ts";

const DOC = "docs/contract.md";

/** The text of section `n` ("## n. …"), up to the next section. */
function section(n: number): string {
  const start = contract.search(new RegExp(`^## ${n}\\. `, "m"));
  if (start < 0) throw new Error(`${DOC} has no section ${n}`);
  const next = contract.slice(start + 1).search(/^## /m);
  return next < 0 ? contract.slice(start) : contract.slice(start, start + 1 + next);
}

/** The cells of every row of the markdown tables in `text` (header rows included, rules not). */
function tableRows(text: string): string[][] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[-| :]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split(" | ").map((cell) => cell.trim()));
}

/** The first `code span` of a cell. */
const codeSpan = (cell: string) => /`([^`]+)`/.exec(cell)?.[1];

/** The messages a table of answers gives for `status`, such as 401 `Malformed API key`. */
function messagesFor(status: number, text: string): string[] {
  return tableRows(text)
    .map((cells) => cells.at(-1) ?? "")
    .filter((answer) => answer.startsWith(`${status} \``))
    .map((answer) => codeSpan(answer)!);
}

describe(`${DOC} and src/`, () => {
  it("section 1's code table is src/envelope.ts ERROR_STATUS, code for code", () => {
    const documented = new Map(tableRows(section(1)).filter(([status]) => /^\d{3}$/.test(status ?? "")).map(([status, code]) => [code!, Number(status)]));
    const problems: string[] = [];
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      if (!documented.has(code)) problems.push(`src/envelope.ts ERROR_STATUS has ${code} (${status}), which ${DOC}'s code table (section 1) does not list`);
      else if (documented.get(code) !== status) problems.push(`${code} is ${status} in src/envelope.ts ERROR_STATUS but ${documented.get(code)} in ${DOC} (section 1)`);
    }
    for (const code of documented.keys()) {
      if (!Object.hasOwn(ERROR_STATUS, code)) problems.push(`${DOC} (section 1) lists ${code}, which src/envelope.ts ERROR_STATUS does not have`);
    }
    expect(problems, problems.join("\n")).toEqual([]);
    expect(documented.size).toBeGreaterThan(0);
  });

  it("section 1's envelope example and Content-Type are what src/envelope.ts builds", () => {
    const example = JSON.parse(/```json\n([\s\S]+?)\n```/.exec(section(1))![1]!) as { error: { message: string }; meta: { retry_after: number } };
    expect(example.error.message, `the example's message in ${DOC} section 1`).toBe(rateLimitMessage(example.meta.retry_after));
    expect(section(1), `${DOC} section 1 names the Content-Type of src/envelope.ts`).toContain(`\`Content-Type: ${JSON_CONTENT_TYPE}\``);
  });

  it("section 3's messages are src/authenticate.ts AUTH_MESSAGES and its 403", () => {
    const table = section(3);
    expect(messagesFor(401, table).sort(), `the 401 messages of ${DOC} section 3 vs src/authenticate.ts AUTH_MESSAGES`).toEqual(Object.values(AUTH_MESSAGES).sort());
    const [forbidden] = messagesFor(403, table);
    expect(forbidden, `${DOC} section 3 has a 403 row`).toBeDefined();
    expect(forbidden!.replace("<scope>", "write"), `the 403 message of ${DOC} section 3 vs src/authenticate.ts denialSpec`).toBe(denialSpec({ outcome: "forbidden", scope: "write" }).message);
  });

  it("sections 4 and 5's messages are the ones the gateway answers with", () => {
    const rateLimited = /429 `([^`]+)`/.exec(section(4))?.[1];
    expect(rateLimited?.replace("N", "7"), `the 429 message of ${DOC} section 4 vs src/envelope.ts rateLimitMessage`).toBe(rateLimitMessage(7));
    const insufficient = /402 `([^`]+)`/.exec(section(5))?.[1];
    expect(insufficient, `the 402 message of ${DOC} section 5 vs src/authenticate.ts denialSpec`).toBe(denialSpec({ outcome: "insufficient_credits", cost: 40, balance: 12 }).message);
  });

  it("section 12's answer while a breaker is open is the one the gateway answers with", () => {
    const message = /500 INTERNAL_ERROR `([^`]+)`/.exec(section(12))?.[1]?.replace(/\s+/g, " ");
    expect(message, `the message of ${DOC} section 12 vs src/upstream/upstreams.ts UPSTREAM_UNAVAILABLE`).toBe(UPSTREAM_UNAVAILABLE);
  });

  it("section 11's messages and limits are the ones src/idempotency/ answers with", () => {
    const text = section(11);
    const documented = [...text.matchAll(/(\d{3}) (CONFLICT|VALIDATION_ERROR) `([^`]+)`/g)].map(([, status, code, message]) => `${status} ${code} ${message!.replace(/\s+/g, " ")}`);
    const answered = (["in_flight", "mismatch", "too_large"] as const).map((reason) => {
      const spec = refusalSpec({ reason });
      return `${ERROR_STATUS[spec.code]} ${spec.code} ${spec.message}`;
    });
    expect(documented.sort(), `the 400 and 409 messages of ${DOC} section 11 vs src/idempotency/answers.ts`).toEqual(answered.sort());
    expect(text, `${DOC} section 11: the in-progress 409 carries Retry-After: 1`).toContain(`\`${REFUSAL_MESSAGES.in_flight}\`, \`Retry-After: 1\``);
    expect(refusalSpec({ reason: "in_flight" }).retryAfterSeconds).toBe(1);
    expect(text).toContain(`\`${REPLAYED_HEADER}: true\``);
    expect(MAX_IDEMPOTENT_BODY_BYTES, `${DOC} section 11 says 1 MiB`).toBe(1024 * 1024);
  });

  it("the defaults and the account id pattern are src/'s", () => {
    expect(section(3), `AUTH_FAILURES_PER_MINUTE's default in ${DOC} section 3 vs src/config.ts`).toContain(`\`AUTH_FAILURES_PER_MINUTE\` (default ${DEFAULT_AUTH_FAILURES_PER_MINUTE})`);
    expect(section(6), `UPSTREAM_TIMEOUT_MS's default in ${DOC} section 6 vs src/config.ts`).toContain(`\`UPSTREAM_TIMEOUT_MS\` (default ${DEFAULT_UPSTREAM_TIMEOUT_MS})`);
    expect(section(7), `the account id pattern in ${DOC} section 7 vs src/keys.ts ACCOUNT_ID_PATTERN`).toContain(`\`${ACCOUNT_ID_PATTERN.source}\``);
  });

  it("section 8's field table names exactly the fields src/config.ts accepts", () => {
    const groupOf: Record<string, keyof typeof CONFIG_FIELDS> = {
      "`[vars]`": "vars",
      secret: "vars",
      "`[vars.PLANS.<name>]`": "plan",
      "`[[vars.ROUTES]]`": "route",
      "`[vars.UPSTREAMS.<name>]`": "upstream",
      "`breaker = { … }`": "breaker",
    };
    const label = {
      vars: (f: string) => `[vars] ${f}`,
      plan: (f: string) => `[vars.PLANS.<name>] ${f}`,
      route: (f: string) => `[[vars.ROUTES]] ${f}`,
      upstream: (f: string) => `[vars.UPSTREAMS.<name>] ${f}`,
      breaker: (f: string) => `breaker = { … } ${f}`,
    };
    const groups = ["vars", "plan", "route", "upstream", "breaker"] as const;
    const documented = { vars: new Set<string>(), plan: new Set<string>(), route: new Set<string>(), upstream: new Set<string>(), breaker: new Set<string>() };
    const problems: string[] = [];
    for (const [table, field] of tableRows(section(8)).slice(1)) {
      const group = groupOf[table ?? ""];
      const name = codeSpan(field ?? "");
      if (group === undefined || name === undefined) problems.push(`${DOC} (section 8) has a field row for ${table} ${field}, a table src/config.ts CONFIG_FIELDS has no group for`);
      else documented[group].add(name);
    }
    for (const group of groups) {
      for (const field of CONFIG_FIELDS[group]) {
        if (!documented[group].has(field)) problems.push(`src/config.ts accepts ${label[group](field)}, but the field table of ${DOC} (section 8) does not name it: add its row`);
      }
      for (const field of documented[group]) {
        if (!CONFIG_FIELDS[group].includes(field)) problems.push(`${DOC} (section 8) names ${label[group](field)}, which src/config.ts does not accept`);
      }
    }
    expect(problems, problems.join("\n")).toEqual([]);

    // The example above the table shows no field the table lacks.
    const example = /```toml\n([\s\S]+?)\n```/.exec(section(8))![1]!;
    const shown = [...example.matchAll(/^(\w+)\s*=/gm)].map((match) => match[1]!);
    const all = new Set<string>(groups.flatMap((group) => CONFIG_FIELDS[group]));
    expect(shown.filter((field) => !all.has(field)), `fields ${DOC}'s section 8 example sets that src/config.ts does not accept`).toEqual([]);
  });
});
