/**
 * Zod validation failures as sentences a client can act on ("items[3].conv_id: conv_id must not be
 * empty", "body has unknown field(s) \"extra\"").
 */
import type { z } from "zod";

/** "items[3].turn.blocks[0].kind" from a prefix and a zod issue path. */
export function issuePath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    prefix,
  );
}

export function describeIssue(issue: z.core.$ZodIssue, prefix = ""): { path: string; message: string } {
  const path = issuePath(prefix, issue.path);
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(", ");
    return { path, message: `${path ? `${path} has ` : ""}unknown field(s) ${keys}` };
  }
  return { path, message: `${path || "body"}: ${issue.message}` };
}
