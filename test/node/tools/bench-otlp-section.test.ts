// docs/BENCHMARKS.md has two writers: npm run bench (the whole file) and npm run bench:otlp (its
// "OTLP ingestion" section, between markers). Each keeps the other's part.
import { describe, expect, it } from "vitest";
import { keepOtlpSection, OTLP_SECTION_END, OTLP_SECTION_START, otlpSectionOf, withOtlpSection } from "../../../bench/report-otlp";

const section = (body: string) => `${OTLP_SECTION_START}\n## OTLP ingestion\n\n${body}\n${OTLP_SECTION_END}`;

describe("the OTLP section of docs/BENCHMARKS.md", () => {
  it("npm run bench:otlp appends its section once, then replaces only it", () => {
    const first = withOtlpSection("# Benchmarks\n\n## 1. Write throughput\n\nfigures\n", section("run 1"));
    expect(otlpSectionOf(first)).toBe(section("run 1"));
    const second = withOtlpSection(first, section("run 2"));
    expect(second).toBe(first.replace("run 1", "run 2"));
    expect(second.startsWith("# Benchmarks\n\n## 1. Write throughput\n\nfigures\n")).toBe(true);
  });

  it("npm run bench rewrites the rest and keeps the section; without one, its report is unchanged", () => {
    const old = withOtlpSection("# Benchmarks\n\nold figures\n", section("kept"));
    const report = "# Benchmarks\n\nnew figures\n";
    const kept = keepOtlpSection(old, report);
    expect(kept).toContain("new figures");
    expect(kept).not.toContain("old figures");
    expect(otlpSectionOf(kept)).toBe(section("kept"));
    expect(keepOtlpSection("# Benchmarks\n\nno section\n", report)).toBe(report);
    expect(keepOtlpSection(null, report)).toBe(report);
  });
});
