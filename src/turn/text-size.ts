/**
 * Sizes of text as D1 and the wire see it, computed only as far as a bound needs: most texts are far
 * below every bound, and encoding them to find out would cost more than the check is worth. Pure.
 */
const utf8 = new TextEncoder();

/**
 * The UTF-8 bytes of `texts` together when they exceed `max`, else null. A UTF-16 unit is at most 3
 * UTF-8 bytes, so texts whose units × 3 fit are not encoded at all (nearly every request and row).
 */
export function utf8BytesOver(texts: ReadonlyArray<string>, max: number): number | null {
  let units = 0;
  for (const t of texts) units += t.length;
  if (units * 3 <= max) return null;
  let bytes = 0;
  for (const t of texts) bytes += utf8.encode(t).length;
  return bytes > max ? bytes : null;
}

/**
 * The UTF-8 bytes `texts` take as JSON strings — as each row travels to D1, inside the one JSON
 * parameter of its statement (store/d1.ts), where every `"` and `\` is escaped again and a control
 * character becomes six — when that exceeds `max`, else null. A unit escapes to at most 6 bytes, so
 * texts whose units × 6 fit are not serialized at all.
 */
export function jsonBytesOver(texts: ReadonlyArray<string>, max: number): number | null {
  let units = 0;
  for (const t of texts) units += t.length;
  if (units * 6 + 2 * texts.length <= max) return null;
  return utf8BytesOver(
    texts.map((t) => JSON.stringify(t)),
    max,
  );
}
