// Plain-text tables and aligned field lists for a terminal. Every value that came from the
// gateway passes through printable(), so no stored name can move the cursor or recolour
// the operator's terminal.

export function printable(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** A header row, a rule, then the rows, each column padded to its widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => headers.map((_, i) => printable(row[i])));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n");
}

/** `Label   value` lines, the values aligned. */
export function fields(pairs: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(0, ...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${printable(value)}`).join("\n");
}
