/**
 * YAML as the Go implementation writes and reads it (gopkg.in/yaml.v3): YAML 1.2, core schema,
 * plain data only. Pure; no I/O.
 *
 * readYaml refuses, instead of guessing, everything that would change data silently or cost more
 * than its size: anchors and aliases (no expansion at all), directives other than `%YAML 1.2`,
 * tags outside the core schema (`!!set`, `!!binary`, `!custom`), merge keys, values JSON cannot
 * hold (`.inf`, `.nan`, integers beyond ±(2^53−1)), and number forms that Go's reader and YAML 1.2
 * read differently (`0777` is 511 to Go and 777 to YAML 1.2; `1_000` is 1000 to Go and a string to
 * YAML 1.2; likewise `0b101`, `-0x1F`). Mapping keys are read as Go reads them into a
 * map[string]any: the key's text (`1.0: x` has the key "1.0").
 *
 * writeYaml writes JSON values back so that both readYaml and Go read exactly the same values:
 * strings that either reader would take for something else are double-quoted.
 */
import {
  type CST,
  Composer,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Parser,
  Scalar,
  YAMLParseError,
  type Node as YamlNode,
} from "yaml";

/** A YAML problem: where, and what (never the payload's text). */
export class YamlError extends Error {
  override name = "YamlError";
  constructor(
    message: string,
    /** Exceeded MAX nesting (reported separately: NESTING_TOO_DEEP). */
    readonly tooDeep = false,
  ) {
    super(message);
  }
}

const CORE_TAGS = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));
const DEFAULT_TAG_HANDLES = JSON.stringify({ "!!": "tag:yaml.org,2002:" });

/** Plain scalars Go reads as numbers (or merge keys) where YAML 1.2 core reads something else. */
const GO_NUMBER_FORMS: readonly RegExp[] = [
  /^[-+]?0[0-9]+$/, // 0777: octal to Go, decimal to YAML 1.2
  /^[-+]?0[bB][01_]+$/, // binary: a number to Go, a string to YAML 1.2
  /^[-+]0[xXoO]/, // signed hex/octal: a number to Go, a string to YAML 1.2
  /^0[XO]/, // upper-case prefixes
];
/** After removing "_", Go's reader tries these number forms (strconv base 0, yamlStyleFloat). */
const GO_NUMBER_AFTER_UNDERSCORES =
  /^[-+]?((0[xX][0-9a-fA-F]+)|(0[oO][0-7]+)|(0[bB][01]+)|([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?)$/;

function goReadsDifferently(source: string): boolean {
  if (GO_NUMBER_FORMS.some((form) => form.test(source))) return true;
  return source.includes("_") && GO_NUMBER_AFTER_UNDERSCORES.test(source.replace(/_/g, ""));
}

interface Position {
  line: number;
  column: number;
}

function positionOf(text: string, offset: number): Position {
  const before = text.slice(0, Math.max(0, offset));
  return { line: before.split("\n").length, column: before.length - before.lastIndexOf("\n") };
}

/**
 * Reads one YAML document into plain JSON values (objects, arrays, strings, finite numbers,
 * booleans, null), or throws YamlError. `maxDepth` bounds nesting before any recursion goes deeper.
 */
export function readYaml(text: string, where: string, maxDepth: number): unknown {
  const tokens = [...new Parser().parse(text)];
  // yaml composes a document recursively: a deep one runs out of stack, which yaml reports as
  // "resource exhaustion" or not depending on how far the isolate has optimized its code. The depth
  // is read first, from the tokens as written, so past maxDepth the answer is always the same. The
  // reader checks again as it reads: a pair in a flow sequence (`[a: b]`) becomes a mapping of its
  // own, one level the tokens do not show.
  if (deeperThan(tokens, maxDepth)) throw new YamlError(`${where} is nested deeper than ${maxDepth} levels`, true);
  const doc = composeOne(tokens, text.length);
  const reader = new PlainReader(text, where, maxDepth);
  reader.checkDocument(doc);
  return reader.value(doc.contents, 0);
}

const PARSE_OPTIONS = {
  version: "1.2",
  schema: "core",
  merge: false,
  uniqueKeys: true,
  intAsBigInt: true,
  resolveKnownTags: false,
  strict: true,
} as const;

/** The first document of `tokens`, as yaml's parseDocument composes it (a second one is an error). */
function composeOne(tokens: CST.Token[], length: number): Document.Parsed {
  let doc: Document.Parsed | undefined;
  for (const next of new Composer(PARSE_OPTIONS).compose(tokens, true, length)) {
    if (doc) {
      doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], "MULTIPLE_DOCS", "Source contains multiple documents"));
      break;
    }
    doc = next;
  }
  return doc!; // compose(…, true) always ends with a document
}

/** Whether collections nest more than `levels` deep anywhere in `tokens` (walked without recursion). */
function deeperThan(tokens: readonly CST.Token[], levels: number): boolean {
  const pending: Array<[CST.Token | null | undefined, number]> = tokens.map((token) => [token, 0]);
  while (pending.length > 0) {
    const [token, depth] = pending.pop()!;
    if (!token) continue;
    if (token.type === "document") pending.push([token.value, depth]);
    if (token.type !== "block-map" && token.type !== "block-seq" && token.type !== "flow-collection") continue;
    if (depth + 1 > levels) return true;
    for (const item of token.items) pending.push(["key" in item ? item.key : null, depth + 1], [item.value, depth + 1]);
  }
  return false;
}

/** One document's nodes to plain values, every refusal naming `where` and the line and column. */
class PlainReader {
  constructor(
    private readonly text: string,
    private readonly where: string,
    private readonly maxDepth: number,
  ) {}

  private at(offset: number | undefined): string {
    const { line, column } = positionOf(this.text, offset ?? 0);
    return `at line ${line}, column ${column}`;
  }

  /** The parser's first error or warning, and directives other than `%YAML 1.2` and the default tag handles. */
  checkDocument(doc: Document.Parsed): void {
    const { where } = this;
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem?.code === "TAG_RESOLVE_FAILED") {
      throw new YamlError(`${where}: a tag outside the YAML 1.2 core schema ${this.at(problem.pos[0])}`);
    }
    if (problem) {
      // yaml's messages can quote the source: name the problem by its code and say where.
      throw new YamlError(`${where} is not valid YAML: ${problem.code.toLowerCase().replace(/_/g, " ")} ${this.at(problem.pos[0])}`);
    }
    const version = doc.directives?.yaml;
    if (version?.explicit && version.version !== "1.2") {
      throw new YamlError(`${where}: only %YAML 1.2 is accepted (the document declares %YAML ${version.version})`);
    }
    if (doc.directives && JSON.stringify(doc.directives.tags) !== DEFAULT_TAG_HANDLES) {
      throw new YamlError(`${where}: %TAG directives are not accepted`);
    }
  }

  value(node: unknown, depth: number): unknown {
    const { where } = this;
    if (node === null || node === undefined) return null;
    if (isAlias(node)) throw new YamlError(`${where}: aliases are not accepted (${this.at(node.range?.[0])})`);
    const yamlNode = node as YamlNode;
    if (yamlNode.anchor) throw new YamlError(`${where}: anchors are not accepted (${this.at(yamlNode.range?.[0])})`);
    if (yamlNode.tag && !CORE_TAGS.has(yamlNode.tag)) {
      throw new YamlError(
        `${where}: tag ${JSON.stringify(yamlNode.tag)} is not in the YAML 1.2 core schema (${this.at(yamlNode.range?.[0])})`,
      );
    }
    if (isScalar(node)) return this.scalar(node);
    if (depth >= this.maxDepth) throw new YamlError(`${where} is nested deeper than ${this.maxDepth} levels`, true);
    if (isSeq(node)) return node.items.map((item) => this.value(item, depth + 1));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = this.key(pair.key);
        if (Object.hasOwn(out, key))
          throw new YamlError(`${where}: the key ${JSON.stringify(key)} appears twice (${this.at(rangeStart(pair.key))})`);
        // defineProperty keeps a "__proto__" key as plain data instead of changing the prototype.
        Object.defineProperty(out, key, { value: this.value(pair.value, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    throw new YamlError(`${where}: unsupported YAML node ${this.at(yamlNode.range?.[0])}`);
  }

  private scalar(node: Scalar): unknown {
    const { where } = this;
    const value = node.value;
    const plain = node.type === Scalar.PLAIN && node.tag === undefined;
    if (plain && typeof node.source === "string" && goReadsDifferently(node.source)) {
      throw new YamlError(
        `${where}: the number form ${JSON.stringify(node.source)} reads differently in Go and in YAML 1.2 (${this.at(node.range?.[0])}); quote it for a string or write it in decimal`,
      );
    }
    if (typeof value === "bigint") {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new YamlError(
          `${where}: the integer ${value} is beyond ±(2^53−1), which JSON numbers cannot hold exactly (${this.at(node.range?.[0])}); quote it`,
        );
      }
      return Number(value);
    }
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new YamlError(`${where}: ${node.source ?? String(value)} is not a value JSON can hold (${this.at(node.range?.[0])})`);
    }
    if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
    throw new YamlError(`${where}: unsupported scalar ${this.at(node.range?.[0])}`);
  }

  private key(key: unknown): string {
    const { where } = this;
    if (isAlias(key)) throw new YamlError(`${where}: aliases are not accepted (${this.at(key.range?.[0])})`);
    if (!isScalar(key)) throw new YamlError(`${where}: mapping keys must be scalars (${this.at(rangeStart(key))})`);
    if ((key as YamlNode).anchor) throw new YamlError(`${where}: anchors are not accepted (${this.at(key.range?.[0])})`);
    if (key.tag && !CORE_TAGS.has(key.tag))
      throw new YamlError(`${where}: tag ${JSON.stringify(key.tag)} is not in the YAML 1.2 core schema (${this.at(key.range?.[0])})`);
    if (key.type === Scalar.PLAIN) {
      const source = key.source ?? String(key.value);
      if (source === "<<") throw new YamlError(`${where}: merge keys (<<) are not accepted (${this.at(key.range?.[0])})`);
      if (key.value === null) throw new YamlError(`${where}: mapping keys must not be null (${this.at(key.range?.[0])})`);
      // Go decodes a key into a string from its text: `1.0: x` has the key "1.0", not "1".
      return source;
    }
    return String(key.value);
  }
}

function rangeStart(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null)?.range?.[0];
}

// ---- writing -------------------------------------------------------------------------------

const CORE_NULL = /^(?:~|null|Null|NULL)$/;
const CORE_BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const CORE_INT = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const CORE_FLOAT = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
/** Characters YAML may hold unescaped (its "printable" set), except line breaks and tabs. */
const NOT_PRINTABLE = /[^\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NOT_PRINTABLE_GLOBAL = /[^\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const INDICATOR_START = /^[-?:,[\]{}#&*!|>'"%@`]/;

/** A string written plain reads back as the same string in YAML 1.2 and in Go. */
function plainIsSafe(text: string): boolean {
  if (text === "" || text !== text.trim() || NOT_PRINTABLE.test(text)) return false;
  if (INDICATOR_START.test(text) || text.includes(": ") || text.includes(" #") || text.endsWith(":")) return false;
  if (text.startsWith("---") || text.startsWith("...")) return false;
  if (CORE_NULL.test(text) || CORE_BOOL.test(text) || CORE_INT.test(text) || CORE_FLOAT.test(text)) return false;
  return text !== "<<" && !goReadsDifferently(text);
}

/** A double-quoted scalar: JSON's escapes are YAML's, plus \uXXXX for what YAML may not hold raw. */
function doubleQuoted(text: string): string {
  return JSON.stringify(text).replace(NOT_PRINTABLE_GLOBAL, (ch) => {
    const code = ch.codePointAt(0)!;
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Multi-line text as a literal block when it reads back exactly; otherwise null. */
function literalBlock(text: string, indent: string): string | null {
  if (!text.includes("\n") || text.includes("\r") || text.includes("\t") || NOT_PRINTABLE.test(text.replace(/\n/g, ""))) return null;
  if (text.startsWith(" ") || text.startsWith("\n") || text.endsWith("\n\n") || text === "\n") return null;
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  const lines = body.split("\n");
  if (lines.some((line) => line !== line.trimEnd())) return null;
  const header = text.endsWith("\n") ? "|" : "|-";
  return `${header}\n${lines.map((line) => (line === "" ? "" : indent + line)).join("\n")}`;
}

function scalarText(value: unknown, indent: string, asKey: boolean): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "null";
    // An integer beyond ±(2^53−1) reads as an integer that JSON numbers cannot hold exactly (readYaml
    // refuses it; Go reads it as int64): written with an exponent it is a float, read back exactly.
    return Number.isInteger(value) && !Number.isSafeInteger(value) ? value.toExponential() : JSON.stringify(value);
  }
  if (typeof value === "string") {
    if (plainIsSafe(value)) return value;
    if (!asKey) {
      const block = literalBlock(value, indent);
      if (block !== null) return block;
    }
    return doubleQuoted(value);
  }
  throw new TypeError(`not a JSON value: ${typeof value}`);
}

const isCollection = (value: unknown): value is object => typeof value === "object" && value !== null;
const isEmptyCollection = (value: object) => (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);

/** Entries of a mapping (in the given order) at `indent`; the first line gets no indent when `inline`. */
function writeMap(entries: ReadonlyArray<readonly [string, unknown]>, indent: string, out: string[], inline: boolean): void {
  entries.forEach(([key, value], i) => {
    const prefix = `${(i === 0 && inline ? "" : indent) + scalarText(key, indent, true)}:`;
    writeValue(value, prefix, indent, out);
  });
}

function writeValue(value: unknown, prefix: string, indent: string, out: string[]): void {
  if (!isCollection(value) || isEmptyCollection(value)) {
    const text = isCollection(value) ? (Array.isArray(value) ? "[]" : "{}") : scalarText(value, `${indent}  `, false);
    out.push(`${prefix} ${text}`);
    return;
  }
  out.push(prefix);
  if (Array.isArray(value)) writeSeq(value, `${indent}  `, out);
  else writeMap(Object.entries(value), `${indent}  `, out, false);
}

function writeSeq(items: readonly unknown[], indent: string, out: string[]): void {
  for (const item of items) {
    if (isCollection(item) && !isEmptyCollection(item)) {
      const start = out.length;
      if (Array.isArray(item)) writeSeq(item, `${indent}  `, out);
      else writeMap(Object.entries(item), `${indent}  `, out, false);
      // The first line of the nested collection moves up behind the dash.
      out[start] = `${indent}- ${out[start]!.slice(indent.length + 2)}`;
    } else {
      const text = isCollection(item) ? (Array.isArray(item) ? "[]" : "{}") : scalarText(item, `${indent}  `, false);
      out.push(`${indent}- ${text}`);
    }
  }
}

/** A mapping whose top-level keys come in the given order, as YAML text (ends with a newline). */
export function writeYaml(entries: ReadonlyArray<readonly [string, unknown]>): string {
  if (entries.length === 0) return "{}\n";
  const out: string[] = [];
  writeMap(entries, "", out, false);
  return `${out.join("\n")}\n`;
}

/**
 * One item of a block sequence at `indent` — a mapping whose top-level keys come in the given order —
 * as writeYaml would write it inside a sequence under a key at one level less: so a long sequence
 * (an export's snapshots) can be written item by item without holding the whole document.
 */
export function writeYamlSequenceItem(entries: ReadonlyArray<readonly [string, unknown]>, indent: string): string {
  if (entries.length === 0) return `${indent}- {}\n`;
  const out: string[] = [];
  writeMap(entries, `${indent}  `, out, false);
  // The first line of the mapping moves up behind the dash, as writeSeq does.
  out[0] = `${indent}- ${out[0]!.slice(indent.length + 2)}`;
  return `${out.join("\n")}\n`;
}
