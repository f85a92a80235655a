// A process's resident memory over a run, and whether it stayed flat: the last third of
// the samples against the first third.
import { rssBytes } from "./processes.ts";

export interface MemorySummary {
  samples: { atSeconds: number; rssBytes: number }[];
  firstThirdBytes: number;
  lastThirdBytes: number;
  /** lastThird / firstThird − 1. */
  growth: number;
  minBytes: number;
  maxBytes: number;
}

export class MemoryTrack {
  private readonly samples: { atSeconds: number; rssBytes: number }[] = [];
  private readonly pid: number;
  private readonly started: number;

  constructor(pid: number, started: number) {
    this.pid = pid;
    this.started = started;
  }

  sample(): void {
    const rss = rssBytes(this.pid);
    if (rss !== null) this.samples.push({ atSeconds: (performance.now() - this.started) / 1000, rssBytes: rss });
  }

  summary(): MemorySummary {
    const values = this.samples.map((s) => s.rssBytes);
    const third = Math.max(1, Math.floor(values.length / 3));
    const firstThirdBytes = average(values.slice(0, third));
    const lastThirdBytes = average(values.slice(-third));
    return {
      samples: this.samples,
      firstThirdBytes,
      lastThirdBytes,
      growth: lastThirdBytes / firstThirdBytes - 1,
      minBytes: Math.min(...values),
      maxBytes: Math.max(...values),
    };
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
