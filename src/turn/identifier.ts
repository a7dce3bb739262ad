/**
 * The rules every identifier (conv_id, session_id, turn_id, phase, runtime keys in ids) follows,
 * wherever it comes from: a request field, a turn's own `id`, or a YAML payload. Ids are stored and
 * returned exactly, so anything is allowed except what could not round-trip or could pass for another
 * id: blank text, control characters, lone surrogates (D1 would store U+FFFD), "." / ".." (URL paths
 * cannot address them), Unicode format characters (category Cf: zero-width spaces, the BOM, bidi
 * overrides — invisible, so "X" and "X\u200b" would look the same) outside an emoji sequence, and text
 * not in NFC ("café" composed and decomposed would be two conversations that render identically).
 *
 * CONTRACT §6.1: a format character that is part of an emoji sequence — the zero-width joiners of 👩‍💻
 * or 👨‍👩‍👧, the tag characters of a subdivision flag — is visible as that emoji, and chat frontends put
 * such emoji in session ids: it is allowed. The sequences are Unicode's recommended ones (RGI_Emoji,
 * matched with a `v`-flag regular expression); a joiner anywhere else (alone, trailing, between
 * letters) is refused like any other invisible character. The Worker, the import tool and the client
 * module all read ids through this module.
 */
export const MAX_ID_LENGTH = 256;
export const MAX_PHASE_LENGTH = 64;

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Cs}/u;
const FORMAT_CHARACTER = /\p{Cf}/u;
const FORMAT_CHARACTERS = /\p{Cf}/gu;
/** Unicode's recommended emoji sequences (the `v` flag: Node 20, workerd and current browsers run it). */
const EMOJI_SEQUENCE = /\p{RGI_Emoji}/gv;

/** D1 cannot store a lone surrogate in a TEXT column (it reads back as U+FFFD, a different value). */
export function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}

/** What is wrong with `value` as the identifier `name`, or null when it is acceptable. */
export function identifierProblem(name: string, value: string, max = MAX_ID_LENGTH): string | null {
  if (value.length === 0) return `${name} must not be empty`;
  if (value.length > max) return `${name} must be at most ${max} characters`;
  if (value.trim() === "") return `${name} must not be blank`;
  if (CONTROL_CHARACTERS.test(value)) return `${name} must not contain control characters`;
  if (hasLoneSurrogate(value)) return `${name} must be valid Unicode (no lone surrogates)`;
  if (value === "." || value === "..") return `${name} must not be "." or ".." (URL paths cannot address them)`;
  return lookalikeProblem(name, value);
}

/** Invisible or non-canonical text that would let two different ids render the same, or null. */
export function lookalikeProblem(name: string, value: string): string | null {
  const format = invisibleFormatCharacter(value);
  if (format !== null) {
    const code = value.codePointAt(format)!.toString(16).toUpperCase().padStart(4, "0");
    return `${name} must not contain invisible format characters (found U+${code} at index ${format}; only emoji sequences such as 👩‍💻 may hold them)`;
  }
  if (value.normalize("NFC") !== value)
    return `${name} must be in Unicode normalization form NFC (compose it with String.prototype.normalize("NFC"))`;
  return null;
}

/** The index of the first format character (Cf) that is not inside an emoji sequence, or null. */
export function invisibleFormatCharacter(value: string): number | null {
  if (!FORMAT_CHARACTER.test(value)) return null;
  const inEmoji: Array<[number, number]> = [];
  for (const match of value.matchAll(EMOJI_SEQUENCE)) inEmoji.push([match.index, match.index + match[0].length]);
  for (const match of value.matchAll(FORMAT_CHARACTERS)) {
    if (!inEmoji.some(([from, to]) => match.index >= from && match.index < to)) return match.index;
  }
  return null;
}
