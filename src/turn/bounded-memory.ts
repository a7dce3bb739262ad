/**
 * A per-isolate memory of recent results, bounded in entries: when it is full the oldest entry goes,
 * and an entry written again becomes the newest. An isolate serves many requests one after another,
 * and a growing conversation repeats the same work with every snapshot (hashing its earlier blocks,
 * chaining its path, finding its tip), so remembering the last few thousand results saves most of it.
 * A hint only: every caller either recomputes what it is given exactly, or checks it in D1.
 */
export class BoundedMemory<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly maxEntries: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
