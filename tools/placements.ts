/**
 * Where the operator tools find and write each conversation (CONTRACT §6.4), decided as the Worker
 * decides it (src/http/database.ts): a conversation the directory places lives there; one it does not
 * lives in DB if DB has it (from before the directory), and is otherwise placed on its first write —
 * by the Worker's rule (placeConversation over the open databases) and with the Worker's statement
 * (placeConversationsIn, the first write's INSERT … ON CONFLICT DO NOTHING, many per round trip).
 * With DB alone the directory is never read or written, as in the Worker.
 */
import { lookUpConversations, type Placement, placeConversationsIn } from "../src/store/directory";
import { DIRECTORY_BINDING, placeConversation } from "../src/turn/placement";
import { D1Error, type D1Target, d1Step, type OpenDatabases } from "./d1";

export class ConversationPlacements {
  /** Where this run found or placed each conversation. */
  private readonly known = new Map<string, string>();

  constructor(
    private readonly databases: OpenDatabases,
    private readonly nowMs = Date.now(),
  ) {}

  /** The directory's rows for these conversations (none: not placed), placing nothing. */
  async lookUp(convIds: readonly string[]): Promise<Map<string, Placement>> {
    if (this.databases.single) return new Map();
    const found = await lookUpConversations(this.databases.db(DIRECTORY_BINDING), convIds);
    for (const [convId, placement] of found) this.known.set(convId, placement.binding);
    return found;
  }

  /** The database each conversation lives in now, placing none (not in the directory: DB). */
  async locate(convIds: readonly string[]): Promise<Map<string, string>> {
    const unknown = convIds.filter((id) => !this.known.has(id));
    if (unknown.length > 0) await this.lookUp(unknown);
    return new Map(convIds.map((id) => [id, this.known.get(id) ?? DIRECTORY_BINDING]));
  }

  /** The database each conversation lives in, placing those not placed yet: what the Worker's first write does. */
  async place(convIds: readonly string[]): Promise<Map<string, string>> {
    if (this.databases.single) return new Map(convIds.map((id) => [id, DIRECTORY_BINDING]));
    const wanted = [...new Set(convIds)]
      .filter((id) => !this.known.has(id))
      .map((convId) => ({ convId, binding: placeConversation(convId, this.databases.config.open) }));
    const placed = await placeConversationsIn(this.databases.db(DIRECTORY_BINDING), wanted, this.nowMs);
    for (const [convId, placement] of placed) this.known.set(convId, placement.binding);
    return new Map(convIds.map((id) => [id, this.known.get(id)!]));
  }
}

/** Items grouped by the database of their conversation (not located: DB), databases in the order first seen. */
export function groupByDatabase<T>(
  items: readonly T[],
  convIdOf: (item: T) => string,
  where: ReadonlyMap<string, string>,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const binding = where.get(convIdOf(item)) ?? DIRECTORY_BINDING;
    const group = groups.get(binding);
    if (group) group.push(item);
    else groups.set(binding, [item]);
  }
  return groups;
}

/** The databases an operator tool writes conversations to: each step runs on the database of each conversation. */
export class ConversationDatabases {
  readonly placements: ConversationPlacements;

  constructor(
    readonly databases: OpenDatabases,
    readonly target: D1Target,
    nowMs = Date.now(),
  ) {
    this.placements = new ConversationPlacements(databases, nowMs);
  }

  /** " on DB_1" for step names, when there are several databases. */
  on(binding: string): string {
    return this.databases.single ? "" : ` on ${binding}`;
  }

  /**
   * Runs `run` on each database with the items of the conversations that live there — "place": placing
   * those not placed yet (a write), "locate": placing none (a read; not in the directory: DB).
   */
  async forEach<T>(
    items: readonly T[],
    convIdOf: (item: T) => string,
    mode: "place" | "locate",
    step: string,
    run: (db: D1Database, items: T[], binding: string) => Promise<unknown>,
  ): Promise<void> {
    const convIds = [...new Set(items.map(convIdOf))];
    const where = await d1Step(this.target, mode === "place" ? "placing the conversations" : "reading the directory", () =>
      mode === "place" ? this.placements.place(convIds) : this.placements.locate(convIds),
    );
    for (const [binding, group] of groupByDatabase(items, convIdOf, where))
      await d1Step(this.target, `${step}${this.on(binding)}`, () => run(this.databases.db(binding), group, binding));
  }

  /** A conversation being moved takes no writes (the Worker answers 409): refused before anything is written. */
  async refuseMoving(convIds: readonly string[]): Promise<void> {
    const placements = await d1Step(this.target, "reading the directory", () => this.placements.lookUp(convIds));
    const moving = [...placements].find(([, p]) => p.movingTo !== null);
    if (!moving) return;
    const [convId, { binding, movingTo }] = moving;
    throw new D1Error(
      `${JSON.stringify(convId)} is being moved from ${binding} to ${movingTo}: run again once the move is done (nothing was written)`,
    );
  }
}
