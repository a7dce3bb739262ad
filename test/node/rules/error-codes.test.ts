/**
 * One source for the error contract: docs/API.md's table of error codes lists exactly the codes of
 * ERRORS (src/http/errors.ts), each with its status. The OpenAPI document is generated from the same
 * table (src/routes/schemas.ts errorResponses), and the worker harness checks every error a test
 * provokes against it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERRORS } from "../../../src/http/errors";

const API_MD = readFileSync(join(import.meta.dirname, "../../../docs/API.md"), "utf8");

describe("error codes", () => {
  it("docs/API.md lists every code of ERRORS with its status, and no other", () => {
    const section = API_MD.slice(API_MD.indexOf("### Error codes"), API_MD.indexOf("Status order on a write route"));
    const documented = [...section.matchAll(/^\| (\d{3}) \| `([A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]);
    const expected = Object.entries(ERRORS).map(([code, e]) => [code, e.status]);
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(expected));
    expect(documented).toHaveLength(expected.length);
  });
});
