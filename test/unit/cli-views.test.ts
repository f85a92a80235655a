// How `tollgate health` reads in a terminal: each upstream's breaker in words.
import { describe, expect, it } from "vitest";
import { healthText } from "../../cli/views.ts";

describe("healthText", () => {
  it("lists every upstream's breaker state, in the order the gateway gave", () => {
    const text = healthText("https://gw.example.com", {
      status: "ok",
      upstreams: [
        { name: "default", breaker: "off" },
        { name: "billing", breaker: "closed", consecutive_failures: 2 },
        { name: "legacy", breaker: "open", retry_after: 27 },
        { name: "search", breaker: "half_open", trial_in_flight: true },
        { name: "media", breaker: "half_open", trial_in_flight: false },
      ],
    });
    expect(text.split("\n")).toEqual([
      "The gateway at https://gw.example.com is up (status: ok).",
      "",
      "Upstreams, as the instance that answered sees them (each instance keeps its own breakers):",
      "UPSTREAM  BREAKER    DETAIL",
      "--------  ---------  -------------------------------",
      "default   off        no breaker: every call is tried",
      "billing   closed     2 consecutive failure(s)",
      "legacy    open       refusing calls for 27 s more",
      "search    half_open  a trial call is in flight",
      "media     half_open  the next call is a trial",
    ]);
  });

  it("shows a hostile upstream name as harmless characters", () => {
    const text = healthText("http://127.0.0.1:8787", { status: "ok", upstreams: [{ name: "evil\u001b[2J", breaker: "off" }] });
    expect(text).not.toContain("\u001b");
    expect(text).toContain("evil?[2J");
  });
});
