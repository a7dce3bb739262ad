/** Formatting shared by the report's sections (report*.ts). */
import type { BenchResults } from "./index";

export const num = (value: number | null | undefined, digits = 0) =>
  value === null || value === undefined || !Number.isFinite(value)
    ? "—"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const kib = (bytes: number | null | undefined, digits = 1) =>
  bytes === null || bytes === undefined ? "—" : `${num(bytes / 1024, digits)} KiB`;
export const mib = (bytes: number, digits = 0) => `${num(bytes / 1024 ** 2, digits)} MiB`;
/** Decimal megabytes, as the first release's figures are given. */
export const mb = (bytes: number | null | undefined, digits = 2) =>
  bytes === null || bytes === undefined ? "—" : `${num(bytes / 1e6, digits)} MB`;
/** Bytes in the unit that reads best. */
export const bytesText = (bytes: number | null | undefined) =>
  bytes === null || bytes === undefined ? "—" : bytes >= 1024 ** 2 ? mib(bytes, 1) : bytes >= 10 * 1024 ? kib(bytes, 1) : `${num(bytes)} B`;
export const size = (n: number) => (n >= 1_000_000 ? `${num(n / 1_000_000, n % 1_000_000 ? 1 : 0)}M` : `${num(n / 1000, 0)}k`);
export const verdict = (ok: boolean | null) => (ok === null ? "not measured" : ok ? "met" : "**not met**");
/** "met" / "**not met**" inside a sentence. */
export const metText = (ok: boolean) => (ok ? "met" : "**not met**");

export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

export function notMeasured(r: BenchResults, section: string): string {
  const error = r.errors.find((e) => e.section === section);
  if (error) return `_Failed in this run:_ \`${error.message.split("\n")[0]}\``;
  return `_Not measured in ${r.config.mode} mode._`;
}
