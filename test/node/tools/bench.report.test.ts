// The bench's report: docs/BENCHMARKS.md is one template (bench/report.template.md) filled in with
// the figures of the last full run (bench/results/latest.json) and of the OTLP bench
// (bench/results/otlp.json). Each bench writes only its own JSON, so each keeps the other's part.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { figures, type Measured, readResults, render, renderReport, REPORT } from "../../../bench/report";

const { results, otlp } = readResults();
const OTLP_HEADING = "\n## OTLP ingestion";

describe("docs/BENCHMARKS.md", () => {
  it("is the template filled in with bench/results/*.json (re-render with npm run bench -- --render)", () => {
    expect(renderReport(results, otlp)).toBe(readFileSync(REPORT, "utf8"));
  });

  it("takes the OTLP section from otlp.json alone and the rest from latest.json alone", () => {
    const page = renderReport(results, otlp);
    const [main, section] = page.split(OTLP_HEADING);
    const newRun = { ...results, machine: { ...results.machine, date: "2030-01-01" } };
    const [newMain, keptSection] = renderReport(newRun, otlp).split(OTLP_HEADING);
    expect(keptSection).toBe(section);
    expect(newMain).toContain("One full run of\n2030-01-01");
    const newOtlp = { ...otlp, date: "2030-01-02" };
    const [keptMain, newSection] = renderReport(results, newOtlp).split(OTLP_HEADING);
    expect(keptMain).toBe(main);
    expect(newSection).toContain("on 2030-01-02");
    expect(renderReport(results, null)).toBe(`${main}`);
  });
});

describe("a run that measured only some sections (a quick run, or one whose sections failed)", () => {
  const measured: Measured = {
    mode: "quick",
    machine: {
      ...results.machine,
      loadAverageAtEnd: [1, 1, 1],
      minutes: 1.5,
      sections: [{ name: "backfill", seconds: 3, loadStart: 1, loadEnd: 1 }],
    },
    errors: [{ section: "backfill", message: "wrangler d1 migrations apply failed (1):" }],
    throughput: null,
    profile: null,
    writes: null,
    reads: null,
    growing: null,
    deletion: null,
    backfill: null,
    bundle: null,
    startup: { cpuMs: null, samples: null, devColdStart: null },
  };

  it("renders, says which sections it has no figures for and why, and holds no verdict it did not measure", () => {
    const figured = figures(measured);
    expect(Object.values(figured.headline).filter((v) => v !== null)).toEqual([
      "quick",
      10.8,
      results.machine.loadAverageAtStart[0],
      1,
      90,
      1,
    ]);
    expect(new Set(Object.values(figured.verdicts))).toEqual(new Set(["not measured"]));
    const page = renderReport(figured, null);
    expect(page).toContain("One quick run of");
    expect(page).toContain("**1 section(s) failed in this run:** backfill: `wrangler d1 migrations apply failed (1):`");
    expect(page).toContain("## 6. Backfill at scale\n\n_Failed in this run:_ `wrangler d1 migrations apply failed (1):`\n");
    expect(page).toContain("## 1. Write throughput\n\n_Not measured in quick mode._\n");
    expect(page).not.toContain("undefined");
    expect(page).not.toContain("NaN");
  });
});

describe("the template's tags", () => {
  it("fill in values, formats and sections", () => {
    const view = {
      n: 1234.5,
      none: null,
      list: [1, 2, 3],
      rows: [{ a: "x" }, { a: "y" }],
      flag: false,
      ok: true,
      bytes: 2048,
      o: { p: 0.2 },
    };
    expect(render("{{n|1}} {{n|0 ms}} {{none|1 ms}} {{list}} {{list.last}} {{bytes|kib}} {{ok|met}} {{flag|met}}", view)).toBe(
      "1,234.5 1,235 ms — 1 / 2 / 3 3 2.0 KiB met **not met**",
    );
    expect(
      render(
        "{{#rows}}{{a}}{{^@last}}, {{/@last}}{{/rows}}|{{^flag}}off{{/flag}}|{{?list}}{{list.length}}{{/list}}|{{#o}}{{p|2}}{{/o}}",
        view,
      ),
    ).toBe("x, y|off|3|0.20");
    expect(render("a\n{{#rows}}\n- {{a}}\n{{/rows}}\nb\n", view)).toBe("a\n- x\n- y\nb\n");
    expect(render("{{n|3}}", { n: -0.0001 })).toBe("0.000");
  });

  it("refuses a name found nowhere, an unknown format and an unclosed section", () => {
    expect(() => render("{{nothing}}", {})).toThrow("nothing is named nothing");
    expect(() => render("{{n|nope}}", { n: 1 })).toThrow('no format "nope"');
    expect(() => render("{{#n}}", { n: 1 })).toThrow("is not closed");
  });
});
