/**
 * Work bounds per request (CONTRACT §5.3): checked before anything is parsed further, hashed or
 * written, so a request's cost is bounded whatever a client sends. Documented in docs/API.md.
 */
import { TurnFormatError } from "./turn";

/**
 * YAML payloads of one request, in UTF-8 bytes. The YAML reader costs about 0.6 s of CPU per MiB
 * (JSON costs a hundredth of that), so YAML is bounded tighter than the 4 MiB body.
 */
export const MAX_YAML_BYTES_PER_REQUEST = 1024 * 1024;

const utf8 = new TextEncoder();

export function assertYamlBudget(payloads: ReadonlyArray<string | undefined>): void {
  let total = 0;
  for (const payload of payloads) {
    // Cheap upper bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
    if (payload !== undefined) total += payload.length * 3 <= MAX_YAML_BYTES_PER_REQUEST ? payload.length * 3 : utf8.encode(payload).length;
  }
  if (total <= MAX_YAML_BYTES_PER_REQUEST) return;
  const exact = payloads.reduce((sum, p) => sum + (p === undefined ? 0 : utf8.encode(p).length), 0);
  if (exact > MAX_YAML_BYTES_PER_REQUEST) {
    throw new TurnFormatError(
      "PAYLOAD_TOO_LARGE",
      `YAML payloads total ${exact} bytes; a request may carry at most ${MAX_YAML_BYTES_PER_REQUEST} bytes (1 MiB) of YAML — post larger turns as JSON (turn), or send earlier blocks as references`,
    );
  }
}
