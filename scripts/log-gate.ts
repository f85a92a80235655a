// What a green test run's log must not hold (scripts/test.ts fails the run on it). The tests
// inside workerd run it verbose (@cloudflare/vitest-plugin's default), so it reports each
// exception that reaches its boundary: a waitUntil promise or a Durable Object call that
// rejected, a handler that threw, a response body that broke. It also logs every connection
// to an origin that fails, even one the Worker handles. So each line is a defect of the
// gateway, or a test provoking a network failure inside workerd, which belongs in test/e2e
// (wrangler dev's own log is not the test log).
// Pure: no I/O, so a unit test can hold it to the lines it must and must not catch.

export interface ForbiddenKind {
  pattern: RegExp;
  what: string;
}

export const FORBIDDEN_LINES: readonly ForbiddenKind[] = [
  { pattern: /uncaught exception/i, what: "workerd reported an uncaught exception" },
  { pattern: /^exception = \S+:\d+: /, what: "workerd logged an exception" },
  { pattern: /^stack: .*\bworkerd@[0-9a-f]+/, what: "a stack trace of workerd" },
];

// SGR colour codes, which Vitest and workerd may wrap around any part of a line.
const ANSI_ESCAPE = /\u001b\[[0-9;]*m/g;

/** Why `line` may not appear in a green run's log, or null when it may. */
export function forbiddenLine(line: string): string | null {
  const plain = line.replace(ANSI_ESCAPE, "").trim();
  return FORBIDDEN_LINES.find((kind) => kind.pattern.test(plain))?.what ?? null;
}

/** Splits a stream's chunks into whole lines, however the chunks fall. */
export class LineSplitter {
  private rest = "";

  /** The lines `chunk` completes. */
  push(chunk: string): string[] {
    const lines = (this.rest + chunk).split("\n");
    this.rest = lines.pop() ?? "";
    return lines;
  }

  /** The unterminated last line, if any. */
  end(): string[] {
    const last = this.rest;
    this.rest = "";
    return last === "" ? [] : [last];
  }
}
