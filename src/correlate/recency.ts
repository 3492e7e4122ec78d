// The correlator's tables of flows: an entry is found by its endpoints, either
// way round, and the least recently used one is known, both in O(1).
//
// A Map wants a key, and a flow's is a string made of its endpoints: making
// it, hashing it and the Map's slot for it cost more than the rest of a new
// flow's push (and ~150 bytes a flow with the entry beside it). Here the hash
// is a number worked out from the endpoints, the buckets are chained through
// the entries, and the entries are the links of the recency list themselves.
// A doubly linked list rather than the Map's order: V8 leaves a hole for each
// delete until the table is rebuilt, and `keys().next()` walks the holes at
// the front, so evicting the oldest of a full, reordered table became a scan.

/** A flow's endpoints as its events carry them; the same flow either way round. */
export interface Endpoints {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  proto: string | number;
}

/** What a RecencyTable holds: its endpoints, and the table's links (made undefined and 0, set by the table). */
export interface TableEntry {
  readonly endpoints: Endpoints;
  hash: number;
  nextInBucket: TableEntry | undefined;
  older: TableEntry | undefined;
  newer: TableEntry | undefined;
}

function stringHash(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** murmur3's finalizer: the low bits, which pick the bucket, depend on every bit. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** One end's part of endpointsHash(). */
export function endHash(addr: string, port: number): number {
  return mix(stringHash(addr, 0x811c9dc5 ^ port));
}

/**
 * endpointsHash() from its ends' endHash(): the same both ways round (they
 * are added). A protocol is the same as a number or its text ('6' and 6), as
 * it was in the string keys.
 */
export function endsHash(srcHash: number, dstHash: number, proto: string | number): number {
  return mix(stringHash(typeof proto === 'string' ? proto : String(proto), (srcHash + dstHash) | 0));
}

export function endpointsHash(src: string, sport: number, dst: string, dport: number, proto: string | number): number {
  return endsHash(endHash(src, sport), endHash(dst, dport), proto);
}

function sameEndpoints(e: Endpoints, src: string, sport: number, dst: string, dport: number, proto: string | number): boolean {
  return (
    ((e.src === src && e.sport === sport && e.dst === dst && e.dport === dport) || (e.src === dst && e.sport === dport && e.dst === src && e.dport === sport)) &&
    (e.proto === proto || String(e.proto) === String(proto))
  );
}

const FIRST_BUCKETS = 16;
const NO_ENDPOINTS: Endpoints = Object.freeze({ src: '', sport: -1, dst: '', dport: -1, proto: '' });

export class RecencyTable<E extends TableEntry> {
  private buckets: (E | undefined)[] = new Array<E | undefined>(FIRST_BUCKETS).fill(undefined);
  private count = 0;
  /** The recency list is a ring through this: its newer is the oldest entry, its older the newest (no ends to test for). */
  private readonly ring: TableEntry = { endpoints: NO_ENDPOINTS, hash: 0, nextInBucket: undefined, older: undefined, newer: undefined };

  constructor() {
    this.ring.older = this.ring;
    this.ring.newer = this.ring;
  }

  get size(): number {
    return this.count;
  }

  /** The least recently added or touched entry. */
  get oldest(): E | undefined {
    const oldest = this.ring.newer!;
    return oldest === this.ring ? undefined : (oldest as E);
  }

  /** The entry of these endpoints (either way round), whose endpointsHash() is `hash`; without making it more recent. */
  find(hash: number, src: string, sport: number, dst: string, dport: number, proto: string | number): E | undefined {
    for (let e = this.buckets[hash & (this.buckets.length - 1)]; e; e = e.nextInBucket as E | undefined) {
      if (e.hash === hash && sameEndpoints(e.endpoints, src, sport, dst, dport, proto)) return e;
    }
    return undefined;
  }

  /**
   * Adds an entry whose endpoints are in no other, as the most recent; `hash` is their endpointsHash().
   * At the end of its bucket's chain: the oldest entries, which makeRoom() deletes, stay at the front,
   * where delete() finds them without reading the others (each another flow: a cache miss). The chain
   * walked here is the one find() just walked for these endpoints.
   */
  add(e: E, hash: number): void {
    if (this.count >= this.buckets.length) this.grow();
    e.hash = hash;
    e.nextInBucket = undefined;
    const at = hash & (this.buckets.length - 1);
    let last = this.buckets[at];
    if (!last) this.buckets[at] = e;
    else {
      while (last.nextInBucket) last = last.nextInBucket as E;
      last.nextInBucket = e;
    }
    this.count++;
    this.linkNewest(e);
  }

  /** Makes an entry of the table the most recent. */
  touch(e: E): void {
    this.unlink(e);
    this.linkNewest(e);
  }

  /** Removes an entry of the table. */
  delete(e: E): void {
    const at = e.hash & (this.buckets.length - 1);
    let prev: TableEntry | undefined;
    for (let c = this.buckets[at]!; c !== e; c = c.nextInBucket as E) prev = c;
    if (prev) prev.nextInBucket = e.nextInBucket;
    else this.buckets[at] = e.nextInBucket as E | undefined;
    e.nextInBucket = undefined;
    this.count--;
    this.unlink(e);
    e.older = undefined;
    e.newer = undefined;
  }

  /** Removes least recent entries until at most `max` - 1 remain (room for one more); returns how many went. */
  makeRoom(max: number): number {
    let removed = 0;
    while (this.count >= max && this.count > 0) {
      this.delete(this.ring.newer as E);
      removed++;
    }
    return removed;
  }

  /** Entries from the least to the most recent. Deleting the current entry while iterating is allowed. */
  *oldestFirst(): IterableIterator<E> {
    for (let e = this.ring.newer!; e !== this.ring; ) {
      const next = e.newer!;
      yield e as E;
      e = next;
    }
  }

  /** Twice the buckets: chains stay about one entry long. Newest first, each put at the front: the oldest lead their chains. */
  private grow(): void {
    const buckets = new Array<E | undefined>(this.buckets.length * 2).fill(undefined);
    const mask = buckets.length - 1;
    for (let e = this.ring.older!; e !== this.ring; e = e.older!) {
      e.nextInBucket = buckets[e.hash & mask];
      buckets[e.hash & mask] = e as E;
    }
    this.buckets = buckets;
  }

  private unlink(e: TableEntry): void {
    e.older!.newer = e.newer;
    e.newer!.older = e.older;
  }

  private linkNewest(e: TableEntry): void {
    const newest = this.ring.older!;
    e.older = newest;
    e.newer = this.ring;
    newest.newer = e;
    this.ring.older = e;
  }
}
