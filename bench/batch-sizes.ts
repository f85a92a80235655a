// Group commit's batch sizes (src/account/batch.ts), from the object's own counts: how many
// admissions shared each storage commit.

export interface BatchSizes {
  /** Storage commits that held admissions. */
  commits: number;
  admissions: number;
  /** Per commit: the median, 99th percentile and largest number of admissions it held. */
  median: number;
  p99: number;
  max: number;
  /** Admissions per commit on average. */
  mean: number;
}

/** Adds `more` ({ size: batches }) into `into`. */
export function addBatches(into: Record<string, number>, more: Record<string, number>): void {
  for (const [size, n] of Object.entries(more)) into[size] = (into[size] ?? 0) + n;
}

/** Commits counted between two readings of an object's groupCommitStats(): { size: batches }. */
export function batchesBetween(before: readonly { size: number; batches: number }[], after: readonly { size: number; batches: number }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { size, batches } of after) counts[size] = batches;
  for (const { size, batches } of before) counts[size] = (counts[size] ?? 0) - batches;
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

export function summarizeBatches(counts: Record<string, number>): BatchSizes {
  const sizes = Object.entries(counts)
    .map(([size, n]) => [Number(size), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const commits = sizes.reduce((sum, [, n]) => sum + n, 0);
  const admissions = sizes.reduce((sum, [size, n]) => sum + size * n, 0);
  /** Nearest rank over commits, each counted once. */
  const at = (p: number) => {
    const rank = Math.max(1, Math.ceil((p / 100) * commits));
    let seen = 0;
    for (const [size, n] of sizes) if ((seen += n) >= rank) return size;
    return Number.NaN;
  };
  return { commits, admissions, median: at(50), p99: at(99), max: sizes.at(-1)?.[0] ?? Number.NaN, mean: commits === 0 ? Number.NaN : admissions / commits };
}

export function batchLine(label: string, b: BatchSizes): string {
  if (b.commits === 0) return `${label}: no commits seen`;
  return `${label}: ${b.admissions} admissions in ${b.commits} commits — per commit median ${b.median}, p99 ${b.p99}, max ${b.max}, mean ${b.mean.toFixed(1)}`;
}
