// The lines scripts/test.ts fails a run on: the ones a verbose workerd prints for an exception
// nothing handled (taken from real runs), and none of the lines a green run prints.
import { describe, expect, it } from "vitest";
import { forbiddenLine, LineSplitter } from "../../scripts/log-gate.ts";

const WORKERD = "/work/tollgate/node_modules/@cloudflare/workerd-linux-64/bin/workerd";

// Test titles name the lines instead of quoting them: a title is printed (for a slow or a
// failed test), and a quoted one would trip the very check it tests.
describe("forbiddenLine", () => {
  it.each([
    ["an RPC call to a method the object lacks", 'uncaught exception; source = Uncaught (in promise); stack = TypeError: The RPC receiver does not implement the method "admit".'],
    ["a jsg error", "uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network connection lost."],
    ["a rejected promise", "uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost."],
    ["a failed outbound request", "exception = rust/worker/ffi.rs:110: disconnected: client error (SendRequest)"],
    ["a cancelled reader", "exception = workerd/api/streams/identity-transform-stream.c++:296: disconnected: reader canceled"],
    ["a workerd stack", `stack: ${WORKERD}@65d36f0 ${WORKERD}@2a6bf10`],
    ["a coloured workerd stack", `\u001b[31mstack: ${WORKERD}@28a3c60\u001b[39m`],
  ])("refuses %s", (_name, line) => {
    expect(forbiddenLine(line)).not.toBeNull();
  });

  it.each([
    ["a file's result", " ✓  worker  test/worker/credits.test.ts (14 tests) 894ms"],
    ["the summary", "      Tests  537 passed (537)"],
    ["a Node warning", "(node:11850) ExperimentalWarning: SQLite is an experimental feature and might change at any time"],
    ["the gateway's log line", '{"request_id":"req_abc","status":500,"error":"upstream unreachable: Network connection lost."}'],
    ["a slow test's title", "   ✓ refunds a credit route whose origin answers with a reset socket, before answering 443ms"],
    ["the report's path", "JSON report written to /work/tollgate/test-results.json"],
  ])("lets %s pass", (_name, line) => {
    expect(forbiddenLine(line)).toBeNull();
  });
});

describe("LineSplitter", () => {
  it("gives whole lines, however the chunks fall", () => {
    const splitter = new LineSplitter();
    expect(splitter.push("exce")).toEqual([]);
    expect(splitter.push("ption = a.c++:1: x\nstack: ")).toEqual(["exception = a.c++:1: x"]);
    expect(splitter.push(`${WORKERD}@1234`)).toEqual([]);
    expect(splitter.end()).toEqual([`stack: ${WORKERD}@1234`]);
    expect(splitter.end()).toEqual([]);
  });
});
