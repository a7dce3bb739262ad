/**
 * The tests' typed calls come from the app's own type (AppType, src/index.ts; ResponseBody in
 * ../harness.ts), with no hand-kept map: these are checked by `npm run typecheck` (part of npm test).
 * A route that stops carrying its types — an unchained router, a handler answering `c.json` without a
 * status — turns one of these into a compile error.
 */
import { expectTypeOf, it } from "vitest";
import type { ResponseBody } from "../harness";

it("types each route's success body from the app, the most specific route winning", () => {
  expectTypeOf<ResponseBody<"POST", "/api/turns">["conv_id"]>().toEqualTypeOf<string>();
  expectTypeOf<ResponseBody<"POST", "/api/turns/batch">["items"]>().not.toBeAny();
  expectTypeOf<ResponseBody<"PUT", "/api/conversations/c1/runtime">["resolved_runtime_key"]>().toEqualTypeOf<string>();
  expectTypeOf<ResponseBody<"POST", "/api/tokens">["token"]>().toEqualTypeOf<string>();
  expectTypeOf<ResponseBody<"GET", "/api/conversations/c1/turns/latest">["turn"]>().not.toBeAny();
  expectTypeOf<ResponseBody<"GET", "/api/debug/conversations?limit=2">["next_cursor"]>().toEqualTypeOf<string | null>();
  expectTypeOf<ResponseBody<"GET", `/api/debug/conversations/${string}`>["runtime_history"]>().not.toBeAny();
  expectTypeOf<ResponseBody<"GET", "/api/debug/turns?conv_id=c1">["items"]>().not.toBeAny();
  expectTypeOf<ResponseBody<"GET", "/api/debug/turn/a/b/c">["items"]>().not.toBeAny();
  expectTypeOf<ResponseBody<"DELETE", "/api/conversations/c1">["complete"]>().toEqualTypeOf<boolean>();
  expectTypeOf<ResponseBody<"POST", "/api/conversations/c1/move">["digest"]>().toEqualTypeOf<string>();
  expectTypeOf<ResponseBody<"GET", "/healthz">["databases"]>().not.toBeAny();
  // A path no route matches stays untyped.
  expectTypeOf<ResponseBody<"GET", string>>().toBeAny();
});
