// The search, pure over a Prober (the socket, or a fake in tests): the
// largest size that reaches dst with DF, between the family's minimum and
// the route's MTU, then where the smallest failing size breaks, by TTL.
//
//   1. the minimum size, to know dst answers at all (and its round trip);
//   2. the route's MTU, then a binary search; a PTB's MTU (delivered, or
//      seen by the observers before this host dropped it) is tried next;
//   3. the path hop by hop at the size that passes (the per-hop table);
//   4. the failing size hop by hop: Linux routers check the TTL before the
//      MTU, so a Time Exceeded at TTL n proves the packet reached hop n;
//      where that stops is the black hole.
// Each size is retried when nothing comes back; the whole run is bounded in
// time and in probes, and probes are spaced (one at a time, gapMs apart).

import type { Answer, SeenAnswer } from './packets.js';

export interface Prober {
  /** One probe of `size` bytes (the IP packet) with this TTL, waiting at most timeoutMs. */
  probe(size: number, ttl: number, timeoutMs: number): Promise<Answer>;
  /** Milliseconds on a clock of the prober's (the search's budget). */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface SearchOptions {
  min: number;
  max: number;
  /** The whole run, in ms. */
  budgetMs: number;
  /** At most this many probes. */
  maxProbes: number;
  /** Probes of one size and TTL sent before giving up on it when nothing comes back. */
  tries: number;
  /** At least this long between two probes. */
  gapMs: number;
  /** Waiting for an answer before any round trip is known, and the bounds of the wait after (4 round trips + 50 ms). */
  firstTimeoutMs: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  maxHops: number;
  /** The TTL of the search's own probes. */
  ttl: number;
}

export const DEFAULT_SEARCH: Omit<SearchOptions, 'min' | 'max'> = {
  budgetMs: 20_000,
  maxProbes: 200,
  tries: 3,
  gapMs: 20,
  firstTimeoutMs: 1000,
  minTimeoutMs: 150,
  maxTimeoutMs: 1000,
  maxHops: 30,
  ttl: 64,
};

/** A PTB about a probe: one that reached the socket, or one the observers saw this host drop. */
export interface HeardPtb {
  from: string;
  mtu: number;
  /** The probe's size. */
  size: number;
  ttl: number;
  delivered: boolean;
  seen?: SeenAnswer;
}

export interface SearchHop {
  ttl: number;
  addr: string | null;
  rttMs: number | null;
  dropped?: string;
  atFailingSize?: 'answered' | 'ptb' | 'lost';
}

export interface SearchResult {
  /** dst answered the minimum size. */
  reachable: boolean;
  /** Largest size that reached dst (null: none did). */
  pathMtu: number | null;
  smallestLost: number | null;
  ptbs: HeardPtb[];
  hops: SearchHop[];
  blackhole: { after: string | null; ttl: number } | null;
  /** The run ran out of time or probes before it was done. */
  exhausted: boolean;
  probes: number;
  /** Sizes and TTLs the kernel refused to send (EMSGSIZE). */
  refused: number[];
}

class Budget {
  probes = 0;
  private last = -Infinity;
  private rtt: number | undefined;
  exhausted = false;
  private readonly end: number;

  constructor(
    private readonly p: Prober,
    private readonly o: SearchOptions,
  ) {
    this.end = p.now() + o.budgetMs;
  }

  timeout(): number {
    if (this.rtt === undefined) return this.o.firstTimeoutMs;
    return Math.min(this.o.maxTimeoutMs, Math.max(this.o.minTimeoutMs, Math.round(4 * this.rtt + 50)));
  }

  /** One probe, spaced and within the budget; undefined when the budget is spent. */
  async one(size: number, ttl: number): Promise<Answer | undefined> {
    const left = this.end - this.p.now();
    const wait = Math.max(0, this.last + this.o.gapMs - this.p.now());
    const timeout = Math.min(this.timeout(), left - wait);
    if (this.probes >= this.o.maxProbes || timeout <= 0) {
      this.exhausted = true;
      return undefined;
    }
    if (wait > 0) await this.p.sleep(wait);
    this.probes++;
    this.last = this.p.now();
    const a = await this.p.probe(size, ttl, timeout);
    if ('rttMs' in a) this.rtt = Math.max(this.rtt ?? 0, a.rttMs);
    return a;
  }

  /** Up to `tries` probes while nothing at all comes back. */
  async tried(size: number, ttl: number, tries = this.o.tries): Promise<Answer | undefined> {
    let a: Answer | undefined;
    for (let i = 0; i < tries; i++) {
      a = await this.one(size, ttl);
      if (!a || a.kind !== 'none' || a.seen) return a;
    }
    return a;
  }
}

export async function search(p: Prober, o: SearchOptions): Promise<SearchResult> {
  const b = new Budget(p, o);
  const ptbs: HeardPtb[] = [];
  const refused: number[] = [];
  const heard = (a: Answer | undefined, size: number, ttl: number): number | undefined => {
    if (a?.kind === 'too-big') {
      ptbs.push({ from: a.from, mtu: a.mtu, size, ttl, delivered: true });
      return a.mtu;
    }
    if (a?.kind === 'none' && a.seen?.kind === 'too-big' && a.seen.mtu) {
      ptbs.push({ from: a.seen.from, mtu: a.seen.mtu, size, ttl, delivered: false, seen: a.seen });
      return a.seen.mtu;
    }
    if (a?.kind === 'local') refused.push(size);
    return undefined;
  };
  const done = (r: Omit<SearchResult, 'ptbs' | 'exhausted' | 'probes' | 'refused'>): SearchResult => ({
    ...r,
    ptbs,
    exhausted: b.exhausted,
    probes: b.probes,
    refused,
  });

  // 1. Does dst answer at all?
  const first = await b.tried(o.min, o.ttl);
  if (first?.kind !== 'reply') {
    const hops = await trace(b, o, o.min, false);
    return done({ reachable: false, pathMtu: null, smallestLost: o.min, hops, blackhole: null });
  }

  // 2. The largest size that gets there.
  let lo = o.min;
  let hi: number | undefined;
  let next: number | undefined = o.max;
  const advertised = new Set<number>();
  while (true) {
    const size: number | undefined = next !== undefined && next > lo && (hi === undefined || next < hi) ? next : hi !== undefined && hi - lo > 1 ? Math.floor((lo + hi) / 2) : undefined;
    next = undefined;
    if (size === undefined) break;
    const a = await b.tried(size, o.ttl);
    if (!a) break;
    if (a.kind === 'reply') {
      lo = size;
      // A hop said it carries no more than this, and this got through: one byte more is what it drops.
      if (advertised.has(size)) hi = Math.min(hi ?? Infinity, size + 1);
      continue;
    }
    hi = size;
    const mtu = heard(a, size, o.ttl);
    if (mtu !== undefined && mtu > lo && mtu < size) {
      next = mtu;
      advertised.add(mtu);
    }
  }
  const pathMtu = lo;
  const hops = await trace(b, o, pathMtu, true);
  if (hi === undefined) return done({ reachable: true, pathMtu, smallestLost: null, hops, blackhole: null });

  // 4. Where the smallest failing size stops.
  // Up to the TTL at which dst answered the size that passes.
  const limit = Math.min(o.maxHops, hops.length ? hops[hops.length - 1]!.ttl : o.maxHops);
  let after: string | null = null;
  let blackhole: SearchResult['blackhole'] = null;
  for (let ttl = 1; ttl <= limit; ttl++) {
    const a = await b.tried(hi, ttl, 2);
    if (!a) break;
    const hop = hops.find((h) => h.ttl === ttl) ?? addHop(hops, ttl);
    if (a.kind === 'time-exceeded' || (a.kind === 'none' && a.seen?.kind === 'time-exceeded')) {
      hop.atFailingSize = 'answered';
      const from = a.kind === 'none' ? a.seen!.from : a.from;
      if (hop.addr === null) {
        hop.addr = from;
        if (a.kind === 'none') hop.dropped = a.seen!.fate;
      }
      after = from;
      continue;
    }
    if (a.kind === 'reply') break; // it got there after all (a flapping path): nothing to locate
    const mtu = heard(a, hi, ttl);
    hop.atFailingSize = mtu !== undefined ? 'ptb' : 'lost';
    if (a.kind !== 'too-big') blackhole = { after, ttl };
    break;
  }
  return done({ reachable: true, pathMtu, smallestLost: hi, hops, blackhole });
}

function addHop(hops: SearchHop[], ttl: number): SearchHop {
  const h: SearchHop = { ttl, addr: null, rttMs: null };
  hops.push(h);
  hops.sort((x, y) => x.ttl - y.ttl);
  return h;
}

/** 3. The path hop by hop at `size`, until dst answers (or `maxHops`, or 3 silent hops in a row when dst does not answer). */
async function trace(b: Budget, o: SearchOptions, size: number, reachable: boolean): Promise<SearchHop[]> {
  const hops: SearchHop[] = [];
  let silent = 0;
  for (let ttl = 1; ttl <= o.maxHops; ttl++) {
    const a = await b.tried(size, ttl, 2);
    if (!a) break;
    const hop: SearchHop = { ttl, addr: null, rttMs: null };
    hops.push(hop);
    if (a.kind === 'reply' || a.kind === 'time-exceeded' || a.kind === 'unreachable') {
      hop.addr = a.from;
      hop.rttMs = a.rttMs;
      silent = 0;
      if (a.kind !== 'time-exceeded') break;
      continue;
    }
    if (a.kind === 'none' && a.seen) {
      hop.addr = a.seen.from;
      hop.dropped = a.seen.fate;
    }
    if (!reachable && ++silent >= 3) break;
  }
  return hops;
}
