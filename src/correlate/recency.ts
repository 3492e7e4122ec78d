// A map that also knows which entry was used least recently, in O(1).
//
// A plain Map keeps insertion order, and delete + set moves an entry to the
// end; but V8 leaves a hole for each delete until the table is rebuilt, and
// `keys().next()` walks over every hole at the front: evicting the oldest of
// a full table that is constantly reordered becomes a scan per event. A
// doubly linked list beside the Map avoids that.

interface Entry<V> {
  key: string;
  value: V;
  older: Entry<V> | undefined;
  newer: Entry<V> | undefined;
}

export class RecencyMap<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private oldest: Entry<V> | undefined;
  private newest: Entry<V> | undefined;

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The value, without making it more recent. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Sets the value and makes it the most recent. */
  set(key: string, value: V): void {
    let e = this.entries.get(key);
    if (e) {
      e.value = value;
      this.unlink(e);
    } else {
      e = { key, value, older: undefined, newer: undefined };
      this.entries.set(key, e);
    }
    this.linkNewest(e);
  }

  /** Makes an entry the most recent; false when there is none. */
  touch(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.unlink(e);
    this.linkNewest(e);
    return true;
  }

  /** The value, made the most recent (one lookup instead of peek's and set's). */
  getAndTouch(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e !== this.newest) {
      this.unlink(e);
      this.linkNewest(e);
    }
    return e.value;
  }

  delete(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.unlink(e);
    this.entries.delete(key);
    return true;
  }

  /** The least recently set or touched entry. */
  oldestEntry(): [string, V] | undefined {
    return this.oldest ? [this.oldest.key, this.oldest.value] : undefined;
  }

  /** Removes least recent entries until at most `max` - 1 remain (room for one more); returns how many went. */
  makeRoom(max: number): number {
    let removed = 0;
    while (this.entries.size >= max && this.oldest) {
      this.delete(this.oldest.key);
      removed++;
    }
    return removed;
  }

  /** Entries from the least to the most recent. Deleting the current entry while iterating is allowed. */
  *oldestFirst(): IterableIterator<[string, V]> {
    for (let e = this.oldest; e; ) {
      const next = e.newer;
      yield [e.key, e.value];
      e = next;
    }
  }

  values(): IterableIterator<V> {
    const it = this.entries.values();
    return (function* () {
      for (const e of it) yield e.value;
    })();
  }

  private unlink(e: Entry<V>): void {
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = undefined;
    e.newer = undefined;
  }

  private linkNewest(e: Entry<V>): void {
    e.older = this.newest;
    e.newer = undefined;
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
  }
}
