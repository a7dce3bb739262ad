/**
 * The rules every identifier (conv_id, session_id, turn_id, phase, runtime keys in ids) follows,
 * wherever it comes from: a request field, a turn's own `id`, or a YAML payload. Ids are stored and
 * returned exactly, so anything is allowed except what could not round-trip: blank text, control
 * characters, lone surrogates (D1 would store U+FFFD), and "." / ".." (URL paths cannot address them).
 */
export const MAX_ID_LENGTH = 256;
export const MAX_PHASE_LENGTH = 64;

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Cs}/u;

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
  return null;
}
