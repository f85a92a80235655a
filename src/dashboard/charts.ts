// The account page's two charts, drawn with uPlot: requests per hour by outcome, and credits
// spent per day. uPlot draws on a canvas and lays its parts out through element.style (the
// CSSOM, which the page's CSP allows: style-src restricts style sheets and style attributes
// in markup, not properties set from a script it allowed), and builds its legend with
// createElement and textContent, so it needs no inline style or HTML string.
//
// Times are UTC on the axes, as everywhere on the page and in the API's buckets.
import uPlot from "uplot";
import { count } from "./format.ts";
import { OUTCOMES, type Columns } from "./usage-data.ts";

/** Okabe–Ito: told apart with the common colour-vision deficiencies. */
const OUTCOME_COLOURS: Record<(typeof OUTCOMES)[number]["name"], string> = {
  admitted: "#009e73",
  origin_failed: "#d55e00",
  insufficient_credits: "#e69f00",
  forbidden: "#cc79a7",
  rate_limited: "#0072b2",
};
const CREDITS_COLOUR = "#0072b2";
const HEIGHT_PX = 240;
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const LABEL_FONT = `600 ${AXIS_FONT}`;

const utc = (seconds: number) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");

/** Whole numbers only on a count's axis: 1, 2, 5, 10… never 0.5 requests. */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1_000, 2_000, 2_500, 5_000, 10_000, 20_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000];

function countAxis(label: string): uPlot.Axis {
  return { label, font: AXIS_FONT, labelFont: LABEL_FONT, incrs: WHOLE_STEPS, values: (_u, splits) => splits.map((v) => count(v)), size: 60 };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const dayName = (d: Date) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;

/** Ticks as 24-hour UTC times, the day's name at midnight: "Dec 3", "04:00", "08:00". */
function hourAxis(label: string): uPlot.Axis {
  const values = (_u: uPlot, splits: number[]) =>
    splits.map((s) => {
      const d = new Date(s * 1000);
      return d.getUTCHours() === 0 ? dayName(d) : `${String(d.getUTCHours()).padStart(2, "0")}:00`;
    });
  return { label, font: AXIS_FONT, labelFont: LABEL_FONT, values };
}

/** Ticks as UTC days: "Nov 12". */
function dayAxis(label: string): uPlot.Axis {
  return { label, font: AXIS_FONT, labelFont: LABEL_FONT, values: (_u, splits) => splits.map((s) => dayName(new Date(s * 1000))) };
}

/** From 0 to at least 1, so an empty window shows a flat line at 0, not a blank. */
const fromZero: uPlot.Scale.Range = (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))];

/** The indices of a series' points worth marking: those above 0. */
function nonZero(u: uPlot, seriesIdx: number): number[] {
  const values = u.data[seriesIdx] ?? [];
  const marked: number[] = [];
  values.forEach((v, i) => {
    if (v !== null && v !== undefined && v > 0) marked.push(i);
  });
  return marked;
}

export interface Chart {
  resize(width: number): void;
  destroy(): void;
}

function chart(options: uPlot.Options, data: Columns, into: HTMLElement): Chart {
  const plot = new uPlot(options, [data.x, ...data.y], into);
  return {
    resize: (width) => plot.setSize({ width, height: HEIGHT_PX }),
    destroy: () => plot.destroy(),
  };
}

/** Requests per hour, one line per outcome. */
export function requestsChart(data: Columns, into: HTMLElement, width: number): Chart {
  return chart(
    {
      width,
      height: HEIGHT_PX,
      tzDate: utc,
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: [hourAxis("Hour (UTC)"), countAxis("Requests")],
      series: [
        { label: "Hour (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:00" },
        ...OUTCOMES.map(({ name, label }) => ({
          label,
          stroke: OUTCOME_COLOURS[name],
          width: 2,
          // A point marks an hour that had some; the line alone says "none".
          points: { show: true, size: 6, filter: nonZero },
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : count(v)),
        })),
      ],
    },
    data,
    into,
  );
}

/** Credits spent per day, as bars. */
export function creditsChart(data: Columns, into: HTMLElement, width: number): Chart {
  return chart(
    {
      width,
      height: HEIGHT_PX,
      tzDate: utc,
      // Half a day either side, so the first and last bars are whole.
      scales: { x: { time: true, range: (_u, min, max) => [min - 43_200, max + 43_200] }, y: { range: fromZero } },
      axes: [dayAxis("Day (UTC)"), countAxis("Credits")],
      series: [
        { label: "Day (UTC)", value: "{YYYY}-{MM}-{DD}" },
        {
          label: "Credits spent",
          stroke: CREDITS_COLOUR,
          fill: `${CREDITS_COLOUR}99`,
          paths: uPlot.paths.bars!({ size: [0.7, 40] }),
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : count(v)),
        },
      ],
    },
    data,
    into,
  );
}
