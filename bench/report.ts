/** Plain-text tables and number formats for the bench's output. */

export function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

export function rate(bytesPerSecond: number): string {
  return (bytesPerSecond / 1024 ** 2).toFixed(0);
}

export function secs(seconds: number): string {
  return seconds.toFixed(2);
}

/** Columns padded to their widest cell; numbers (cells starting with a digit) right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (/^[\d.-]/.test(cell) && i > 0 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** Rounded for the JSON line: ratios to 3 places, megabytes to 1. */
export function round(value: number, places: number): number {
  const factor = 10 ** places;
  return Math.round(value * factor) / factor;
}
