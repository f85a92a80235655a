// The account page's usage section (SPEC 13): requests per hour by outcome over the last 48
// hours and credits spent per day over the last 30, as charts — and the same numbers as
// text for anyone who cannot see them: a summary under each chart (the chart's description)
// and a table of the 48 hours by key.
import type { AccountView, UsageBucket } from "../../client/admin.ts";
import { creditsChart, requestsChart, type Chart } from "../charts.ts";
import { byId, h, say, show } from "../dom.ts";
import { count } from "../format.ts";
import type { Shell } from "../shell.ts";
import { DAYS_SHOWN, DAY_MS, HOURS_SHOWN, HOUR_MS, OUTCOMES, columns, totals, totalsByKey, usageWindows, type Totals } from "../usage-data.ts";

export interface UsageSection {
  /** Fetches the account's usage and draws it; a later call supersedes an unfinished one. */
  load(account: AccountView): void;
  clear(): void;
}

export function setupUsage(shell: Shell): UsageSection {
  const section = byId("usage-charts", HTMLElement);
  const error = byId("usage-error", HTMLParagraphElement);
  const body = byId("usage-body", HTMLDivElement);
  const requestsPlot = byId("requests-chart", HTMLDivElement);
  const creditsPlot = byId("credits-chart", HTMLDivElement);
  const requestsSummary = byId("requests-summary", HTMLParagraphElement);
  const creditsSummary = byId("credits-summary", HTMLParagraphElement);
  const keyTable = byId("usage-keys-table", HTMLTableElement);
  const keysEmpty = byId("usage-keys-empty", HTMLParagraphElement);

  let charts: Chart[] = [];
  /** Bumped by every load and clear: an answer for an earlier one is dropped. */
  let generation = 0;

  const width = () => Math.max(280, Math.floor(requestsPlot.parentElement?.clientWidth ?? 640));
  let drawnWidth = 0;
  // Redrawn at the next frame, and only when the width changed: a resize inside the
  // observer's own callback would be reported as a ResizeObserver loop.
  new ResizeObserver(() => {
    requestAnimationFrame(() => {
      const now = width();
      if (now === drawnWidth) return;
      drawnWidth = now;
      for (const chart of charts) chart.resize(now);
    });
  }).observe(section);

  function clear(): void {
    generation++;
    for (const chart of charts) chart.destroy();
    charts = [];
    say(error, null);
    show(body, false);
  }

  async function load(account: AccountView): Promise<void> {
    clear();
    const mine = generation;
    const windows = usageWindows(Date.now());
    try {
      const client = shell.client();
      const [hourly, daily] = await Promise.all([
        client.usage(account.id, { from: new Date(windows.hours.from), to: new Date(windows.hours.to), granularity: "hour" }),
        client.usage(account.id, { from: new Date(windows.days.from), to: new Date(windows.days.to), granularity: "day" }),
      ]);
      if (mine !== generation) return;
      show(body, true);
      render(account, hourly.series, windows.hours.from, daily.series, windows.days.from);
    } catch (problem) {
      if (mine === generation) shell.fail(problem, error);
    }
  }

  function render(account: AccountView, hourly: UsageBucket[], hoursFrom: number, daily: UsageBucket[], daysFrom: number): void {
    const perHour = columns(
      hourly,
      hoursFrom,
      HOUR_MS,
      HOURS_SHOWN,
      OUTCOMES.map(({ name }) => (bucket: UsageBucket) => bucket[name]),
    );
    const perDay = columns(daily, daysFrom, DAY_MS, DAYS_SHOWN, [(bucket) => bucket.credits_spent]);
    drawnWidth = width();
    charts = [requestsChart(perHour, requestsPlot, drawnWidth), creditsChart(perDay, creditsPlot, drawnWidth)];

    requestsSummary.textContent = requestsText(totals(hourly), perHour.x, perHour.y);
    creditsSummary.textContent = creditsText(perDay.x, perDay.y[0]!);

    const keys = new Map(account.keys.map((key) => [key.id, key]));
    const byKey = totalsByKey(hourly);
    keyTable.tBodies[0]!.replaceChildren(
      ...[...byKey].map(([keyId, sums]) => {
        const key = keys.get(keyId);
        return row([h("td", { class: "mono", text: key?.prefix ?? keyId }), h("td", { text: key?.name ?? "—" })], sums, { "data-key-id": keyId });
      }),
    );
    keyTable.tFoot!.replaceChildren(row([h("th", { text: "All keys", attrs: { scope: "row", colspan: "2" } })], totals(hourly), {}));
    show(keyTable, byKey.size > 0);
    show(keysEmpty, byKey.size === 0);
  }

  return { load: (account) => void load(account), clear };
}

function row(first: HTMLElement[], sums: Totals, attrs: Record<string, string>): HTMLTableRowElement {
  const numbers = [...OUTCOMES.map(({ name }) => sums[name]), sums.credits_spent];
  return h("tr", { attrs }, ...first, ...numbers.map((n) => h("td", { class: "num", text: count(n) })));
}

/** The requests chart in words: the totals by outcome, and the busiest hour. */
function requestsText(sums: Totals, hours: number[], perOutcome: number[][]): string {
  const parts = [
    `${count(sums.admitted)} admitted`,
    `${count(sums.origin_failed)} failed at the origin and refunded`,
    `${count(sums.insufficient_credits)} refused for credits (402)`,
    `${count(sums.forbidden)} forbidden (403)`,
    `${count(sums.rate_limited)} rate-limited (429)`,
  ];
  // As answered(): admitted or refused; an origin failure was admitted already.
  const inHour = (i: number) => OUTCOMES.reduce((sum, { name }, o) => sum + (name === "origin_failed" ? 0 : perOutcome[o]![i]!), 0);
  let busiest = -1;
  hours.forEach((_, i) => {
    if (inHour(i) > 0 && (busiest < 0 || inHour(i) > inHour(busiest))) busiest = i;
  });
  const peak = busiest < 0 ? " No requests." : ` Busiest hour: ${hourText(hours[busiest]!)} UTC, ${count(inHour(busiest))} requests.`;
  return `The last ${HOURS_SHOWN} hours: ${parts.join(", ")}.${peak}`;
}

/** The credits chart in words: the total, and the day most was spent. */
function creditsText(days: number[], spent: number[]): string {
  const total = spent.reduce((sum, n) => sum + n, 0);
  if (total === 0) return `The last ${DAYS_SHOWN} days: no credits spent.`;
  const most = spent.indexOf(Math.max(...spent));
  return `The last ${DAYS_SHOWN} days: ${count(total)} credits spent; the most on ${dayText(days[most]!)}, ${count(spent[most]!)}.`;
}

function hourText(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 13).replace("T", " ") + ":00";
}

function dayText(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}
