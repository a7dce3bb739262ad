/** Small statistics for benchmark and load-test samples (npm run bench, npm run loadtest). */
const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);

export function median(values: readonly number[]): number {
  const [s, mid] = [sorted(values), values.length >> 1];
  return values.length === 0 ? Number.NaN : values.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
  return values.length === 0 ? Number.NaN : sorted(values)[rank]!;
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Rounds for reports; null stays null. */
export function round(value: number | null | undefined, digits = 2): number | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const [mx, my] = [sum(xs) / xs.length, sum(ys) / ys.length];
  const den = sum(xs.map((x) => (x - mx) ** 2));
  return den === 0 ? 0 : sum(xs.map((x, i) => (x - mx) * (ys[i]! - my))) / den;
}
