/**
 * Canonical JSON as Go's encoding/json writes a map[string]any: compact, object keys sorted by their
 * UTF-8 bytes at every depth (integer-like keys included), and `<` `>` `&` U+2028 U+2029 escaped.
 *
 * Written key by key: a JavaScript object cannot carry this order, because property order puts
 * integer-like keys ("9", "10") first in numeric order whatever order they were added in — so
 * JSON.stringify of a "sorted copy" writes {"9":…,"10":…} where Go writes {"10":…,"9":…}.
 * Pure; no I/O. The values are JSON values (what JSON.parse or the YAML reader produce).
 */

/**
 * Code-point order, which is UTF-8 byte order (JavaScript's default sort compares UTF-16 units, which
 * puts U+1F600 before U+FF5E). ASCII keys never leave the fast loop.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    // A surrogate pair is one code point above every BMP character.
    return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

const GO_ESCAPED = /[<>&\u2028\u2029]/;

/** Go's escape for a UTF-16 unit of `<>&` U+2028 U+2029, or null for any other. */
function goEscape(unit: number): string | null {
  if (unit === 0x3c) return "\\u003c";
  if (unit === 0x3e) return "\\u003e";
  if (unit === 0x26) return "\\u0026";
  if (unit === 0x2028) return "\\u2028";
  if (unit === 0x2029) return "\\u2029";
  return null;
}

/**
 * A JSON string literal as Go writes it (JSON.stringify agrees on quotes, backslashes and controls).
 * The escapes are spliced in by one scan: HTML in tool results is mostly `<` and `>`, and a
 * replace() calling back per match took twice as long on such text.
 */
export function canonicalString(text: string): string {
  const quoted = JSON.stringify(text);
  if (!GO_ESCAPED.test(quoted)) return quoted;
  let out = "";
  let copied = 0;
  for (let i = 0; i < quoted.length; i++) {
    const escaped = goEscape(quoted.charCodeAt(i));
    if (escaped === null) continue;
    out += quoted.slice(copied, i) + escaped;
    copied = i + 1;
  }
  return out + quoted.slice(copied);
}

/** Canonical JSON text of a JSON value (see the module comment). */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join("");
}

function write(value: unknown, out: string[]): void {
  if (value === null) {
    out.push("null");
  } else if (typeof value === "string") {
    out.push(canonicalString(value));
  } else if (typeof value === "number") {
    // Go and ECMAScript print float64 the same way (shortest round trip, exponent from 1e21 and
    // below 1e-6); -0 prints as 0 as JSON.stringify does. Non-finite numbers never get here: the
    // turn reader refuses them.
    out.push(Number.isFinite(value) ? JSON.stringify(value) : "null");
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      write(item, out);
    });
    out.push("]");
  } else if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort(compareUtf8);
    out.push("{");
    keys.forEach((key, i) => {
      if (i > 0) out.push(",");
      out.push(canonicalString(key), ":");
      write(record[key], out);
    });
    out.push("}");
  } else {
    // undefined, functions, symbols, bigint: not JSON values.
    throw new TypeError(`not a JSON value: ${typeof value}`);
  }
}
