/**
 * No import cycles anywhere in the tree (issue 25): the relative imports of every .ts/.tsx/.mts/.mjs
 * file under src/, scripts/, tools/, bench/, examples/ and test/ form a graph without cycles.
 *
 * Counted: `import … from "./x"`, `import "./x"`, `export … from "./x"` and `import("./x")` with a
 * literal string. Type-only imports (`import type`, `export type … from`) count too: a cycle of
 * types is still two modules that each need the other to be read, and it turns into a run-time cycle
 * the day one of its imports carries a value. Package imports ("hono", "node:fs") are not edges.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const FOLDERS = ["src", "scripts", "tools", "bench", "examples", "test"];
const SOURCE = /\.(ts|tsx|mts|mjs)$/;
/** Generated code (protobuf-es) and installed packages are not ours to arrange. */
const SKIP = new Set(["node_modules", "gen", "dist", ".wrangler"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIP.has(entry.name) ? [] : sourceFiles(path);
    return SOURCE.test(entry.name) ? [path] : [];
  });
}

/** Specifiers of the relative imports of a module's text (comments removed first). */
function relativeImports(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const found = [
    ...code.matchAll(/\b(?:import|export)\s+(?:type\s+)?[^;"'`]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g),
    ...code.matchAll(/\bimport\s*["'](\.{1,2}\/[^"']+)["']/g),
    ...code.matchAll(/\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g),
  ];
  return found.map((m) => m[1]!);
}

const CANDIDATES = ["", ".ts", ".tsx", ".mts", ".mjs", ".js", "/index.ts", "/index.mjs"];

/** The file an import names, or null for one that is not a source file of ours (JSON, text, assets). */
function resolveImport(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  const stripped = base.replace(/\.(m?js)$/, "");
  for (const candidate of [...CANDIDATES.map((c) => base + c), ...CANDIDATES.map((c) => stripped + c.replace(/^\.m?js$/, ".ts"))]) {
    try {
      if (SOURCE.test(candidate) && statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = relativeImports(readFileSync(file, "utf8"))
      .map((s) => resolveImport(file, s))
      .filter((t): t is string => t !== null);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components of more than one module, or of one that imports itself (Tarjan). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe("the import graph", () => {
  it("reads every kind of relative import, and only those", () => {
    const text = `import { a } from "./a";
import type { B } from "../b";
import "./side-effect";
export { c } from "./c.ts";
export type { D } from "./d";
export * from "./e";
const f = await import("./f");
import x from "hono";
// import { commented } from "./commented";
/* import { block } from "./block"; */
const url = "http://example.com"; import { g } from "./g";`;
    expect(relativeImports(text)).toEqual(["./a", "../b", "./c.ts", "./d", "./e", "./g", "./side-effect", "./f"]);
  });

  it("finds a cycle of two modules and one of three, and not a chain", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["a", "c"]],
      ["c", ["d"]],
      ["d", ["e"]],
      ["e", ["c"]],
      ["f", ["a"]],
    ]);
    expect(cycles(graph)).toEqual([
      ["c", "d", "e"],
      ["a", "b"],
    ]);
    expect(
      cycles(
        new Map([
          ["x", ["y"]],
          ["y", []],
        ]),
      ),
    ).toEqual([]);
  });

  it("has no cycle in src/, scripts/, tools/, bench/, examples/ or test/", () => {
    const files = FOLDERS.flatMap((folder) => {
      const dir = join(ROOT, folder);
      return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? sourceFiles(dir) : [];
    });
    expect(files.length).toBeGreaterThan(100);
    const found = cycles(importGraph(files)).map((component) => component.map((f) => relative(ROOT, f)).join(" ↔ "));
    expect(found, `import cycles:\n${found.join("\n")}`).toEqual([]);
  });
});
