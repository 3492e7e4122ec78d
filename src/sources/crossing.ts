// Packets followed from one capture point to the next: `analyze` of one
// traffic seen at several points (several files, or a pcapng's interfaces).
// A packet is known again at another point by its flow (the 5-tuple: NAT is
// out of scope), its direction and
//
//   TCP     its sequence number, payload length, SYN and FIN
//   ICMP    an echo's type, identifier and sequence number, and its length
//           (the IP ID of a DF ping is 0 on Linux: no help)
//   UDP     IPv4's IP ID when not 0 (not a fragment), and its length; IPv6
//           has no ID, so its UDP is not followed, nor any other protocol
//
// For each direction of a flow and each two points that see it, the one that
// sees a packet first is upstream. Two capture hosts' clocks can differ by
// more than the forwarding takes (microseconds to milliseconds), which would
// turn that round: with packets seen at both in both directions, the point
// whose delay behind the other is the greater one way than the other way is
// downstream that way (a clock offset adds the same to both), and two ranges
// of delays that overlap say nothing.
//
// A packet seen upstream and never downstream within WINDOW_MS is lost between
// the two when the downstream point was capturing all that time (its file had
// begun, and goes on past the window) and sees the flow's other packets in that
// direction. One lost before the two points' order is known (a flow's first
// packets, large pings before small ones) waits, counted per pair of points,
// until packets seen at both tell it. Packets awaited are a list in time
// order, a packet leaving it as soon as every point has seen it; at most so
// many are awaited at once (the oldest go unjudged beyond, counted).
//
// What two points show of a flow direction goes out as `lost` events
// (docs/json-contract.md): at its first lost packet of sizeMin bytes or more
// (as the kernel reports retransmissions), then whenever the count doubles,
// the sizes lost widen or a larger packet gets through, and at the end;
// losses of small packets alone say nothing (ordinary loss, no MTU in it).
//
// GSO and GRO: a capture on the sending host sees segments before the NIC cuts
// them (a TCP packet larger than the other end's MSS); one on a receiving host
// sees them merged. A GSO packet is followed as the segments it becomes only
// when this point's latest single segment of the flow direction was a full one
// (the MSS less options): after a PTB the sender cuts smaller, and segments of
// the MSS that were never sent would look lost. A merged packet downstream
// covers the segments it merged: it is remembered as a sequence range that a
// packet awaited there is found in. (A merge of a smaller resend and what
// follows can cover a larger segment lost before it: that loss goes unsaid.)
// Either way the segments arrived, but a size got through only as a packet
// seen whole at both points: a GSO packet crosses a bridge or a veth pair
// unsegmented, where the kernel checks no MTU of it, and a single packet of
// its segments' size is dropped there (the lab's bridge port does just that).
// So a segment of a GSO packet is not judged missing at a point that sees
// that direction merged: there its size could never be seen getting through,
// and a GSO packet that capture dropped (tcpdump falls behind) would look
// like segments of that size lost.

import { protoName, type EventJson, type FlowStateJson } from '../contract/event.js';

/** How long a packet seen at one point is awaited at the others, in capture time. */
export const WINDOW_MS = 1000;
/** Packets awaited at once, all flows together. */
export const MAX_AWAITED = 65536;
/** Capture points followed (bits of a mask); points beyond are not. */
const MAX_POINTS = 30;
/** Sequence ranges of merged (GRO) packets remembered per flow. */
const RANGES = 16;
/**
 * A packet seen again where it was first seen, this long after, is another
 * one (a resend: TCP's RTO is 200 ms and more); sooner, it is the same packet
 * again (a cooked capture sees a forwarded packet arriving and leaving).
 */
const RESEND_MS = 1;

/** One flow (5-tuple) across the capture points: direction 0 is from addr[0]. */
export interface Crossing {
  readonly key: string;
  readonly proto: number;
  readonly addr: readonly [string, string];
  readonly port: readonly [number, number];
  readonly since: number;
  /** Flow records (one per point) that hold it. */
  refs: number;
  /** Per direction, the points (bits of their ids) that saw a packet of it, and those that saw one merged (GSO/GRO). */
  readonly seen: [number, number];
  readonly merged: [number, number];
  pending: Map<number, Sighting> | undefined;
  pairs: Pair[] | undefined;
  /** Packets lost before the order of the points that saw them and missed them was known. */
  unplaced: Unplaced[] | undefined;
  /** Merged packets' ranges: point * 2 + direction, start, end, time; a ring of RANGES. */
  ranges: number[] | undefined;
  rangeAt: number;
}

/** A packet seen at one point or more, awaited at the others. */
interface Sighting {
  x: Crossing;
  k: number;
  d: number;
  ts: number;
  mask: number;
  /** The points that saw it and when: [point, ts, point, ts...]. */
  at: number[];
  len: number;
  df: boolean;
  /** Seen as itself (not a segment of a GSO packet): only such a packet says what size gets through. */
  whole: boolean;
  /** How many times its first point sent it within the window (resends), and the latest. */
  copies: number;
  last: number;
  /** TCP data: the sequence range [seq, end), for merged packets downstream; end === seq otherwise. */
  seq: number;
  end: number;
  /** Its neighbours in the list of packets awaited, oldest first. */
  older: Sighting | undefined;
  newer: Sighting | undefined;
}

/** Two points that see a flow (lo < hi, by id), per direction of it. */
interface Pair {
  lo: number;
  hi: number;
  /** Least and greatest delay of hi behind lo (ms) of packets seen at both, and how many. */
  min: [number, number];
  max: [number, number];
  n: [number, number];
  passed: [number, number];
  passedLargest: [number, number];
  gap: [Gap | undefined, Gap | undefined];
}

/** Packets of a flow direction seen at `from` and missed at `to`, which way round the two are not known yet. */
interface Unplaced {
  d: number;
  from: number;
  to: number;
  count: number;
  smallest: number;
  largest: number;
  df: number;
}

/** Packets of one flow direction lost between an upstream point and a downstream one. */
interface Gap {
  x: Crossing;
  d: number;
  pair: Pair;
  from: number;
  to: number;
  count: number;
  smallest: number;
  largest: number;
  df: number;
  /** What the last event said (count 0: none yet). */
  saidCount: number;
  saidSmallest: number;
  saidLargest: number;
  saidPassed: number;
}

export interface CrossingHost {
  /** How many capture points there are (ids 0 to this less one). */
  points(): number;
  /** A point's event names. */
  point(id: number): { netns: string; iface: string };
  /** Whether a point was capturing from `from` to `to` (its file had begun, and has packets from `to` on). */
  capturing(id: number, from: number, to: number): boolean;
  /** The flow state a point's event of the flow carries (direction d of the crossing), if the point still holds the flow. */
  state(id: number, x: Crossing, d: number): FlowStateJson | undefined;
  emit(ev: EventJson): void;
}

/** The key of a packet in a flow direction: exact in a double (below 2^51). */
export function packetKey(seq: number, len: number, bits: number, d: number): number {
  return ((seq * 65536 + (len & 0xffff)) * 4 + bits) * 2 + d;
}
export const KEY_SYN = 1;
export const KEY_FIN = 2;
/** ICMP echo request / reply, in the bits TCP's SYN and FIN use. */
export const KEY_REQUEST = 1;
export const KEY_REPLY = 2;

const before = (a: number, b: number) => ((a - b) | 0) < 0;

function bits(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; mask; i++, mask >>>= 1) if (mask & 1) out.push(i);
  return out;
}

const twoOrMore = (mask: number) => (mask & (mask - 1)) !== 0;

/** The upstream point of direction d of a pair, -1 while not known (see the top of this file). */
function upstream(p: Pair, d: number): number {
  const e = 1 - d;
  if (!p.n[d]) return -1;
  const min = p.min[d]!;
  const max = p.max[d]!;
  if (p.n[e]) {
    if (min > p.max[e]!) return p.lo;
    if (max < p.min[e]!) return p.hi;
    return -1;
  }
  if (min > 0) return p.lo;
  if (max < 0) return p.hi;
  return -1;
}

export class Crossings {
  /** Packets awaited, oldest first. */
  private oldest: Sighting | undefined;
  private newest: Sighting | undefined;
  private count = 0;
  private readonly said = new Set<Gap>();
  /** Packets that went unjudged: more than `cap` were awaited at once. */
  unjudged = 0;

  constructor(
    private readonly host: CrossingHost,
    private readonly sizeMin: number,
    private readonly cap = MAX_AWAITED,
  ) {}

  /** Whether a point can be followed. */
  static follows(point: number): boolean {
    return point < MAX_POINTS;
  }

  make(key: string, proto: number, addr: [string, string], port: [number, number], ts: number): Crossing {
    return { key, proto, addr, port, since: ts, refs: 0, seen: [0, 0], merged: [0, 0], pending: undefined, pairs: undefined, unplaced: undefined, ranges: undefined, rangeAt: 0 };
  }

  /** A crossing no flow record holds any more: what its gaps did not say yet is said now. */
  release(x: Crossing, now: number): void {
    for (const p of x.pairs ?? []) {
      for (const g of p.gap) {
        if (!g) continue;
        if (g.saidCount && g.count > g.saidCount) this.say(g, now);
        this.said.delete(g);
      }
    }
    for (const s of x.pending?.values() ?? []) this.unlink(s);
    x.pending = undefined;
  }

  /** A packet of direction d that cannot be followed (a pure ACK, GSO of unknown segments): the point sees that direction. */
  seen(x: Crossing, d: number, point: number): void {
    x.seen[d]! |= 1 << point;
  }

  /** A packet of direction d at a point, by its key; `len` its IP length; `whole`: not a segment of a GSO packet. */
  packet(x: Crossing, d: number, point: number, ts: number, k: number, len: number, df: boolean, seq = 0, end = seq, whole = true): void {
    const bit = 1 << point;
    const seen = (x.seen[d]! |= bit);
    const s = x.pending?.get(k);
    if (s === undefined) {
      // A flow one point alone has seen for a while is not awaited elsewhere.
      if (!twoOrMore(seen | x.seen[1 - d]!) && ts - x.since > WINDOW_MS) return;
      const fresh: Sighting = { x, k, d, ts, mask: bit, at: [point, ts], len, df, whole, copies: 1, last: ts, seq, end, older: undefined, newer: undefined };
      (x.pending ??= new Map()).set(k, fresh);
      this.push(fresh);
      return;
    }
    if (s.mask & bit) {
      // Here already: a resend from upstream, or a cooked capture's second sighting.
      if (s.at[0] === point) {
        if (ts - s.last > RESEND_MS) s.copies++;
        s.last = ts;
      }
      return;
    }
    for (let i = 0; i < s.at.length; i += 2) this.both(x, d, s.at[i]!, s.at[i + 1]!, point, ts, whole && s.whole ? len : 0);
    s.mask |= bit;
    s.at.push(point, ts);
    if ((s.mask & seen) === seen) {
      x.pending!.delete(k);
      this.unlink(s);
    }
  }

  /** A merged (GRO) or GSO packet at a point: its range may cover what is awaited there. */
  range(x: Crossing, d: number, point: number, ts: number, start: number, end: number): void {
    x.seen[d]! |= 1 << point;
    x.merged[d]! |= 1 << point;
    const r = (x.ranges ??= []);
    const at = x.rangeAt;
    r[at] = point * 2 + d;
    r[at + 1] = start;
    r[at + 2] = end;
    r[at + 3] = ts;
    x.rangeAt = (at + 4) % (RANGES * 4);
  }

  /** Judges the packets awaited since before now - WINDOW_MS (what it tells is told at `now`, the capture's time). */
  expire(now: number): void {
    for (let s = this.oldest; s && s.ts + WINDOW_MS < now; s = this.oldest) {
      this.unlink(s);
      s.x.pending!.delete(s.k);
      this.judge(s, now);
    }
  }

  /** The end of the files: what was not said yet. What is still awaited can no longer be judged (no point captures on). */
  finish(now: number): void {
    for (const g of this.said) if (g.count > g.saidCount) this.say(g, now);
  }

  private push(s: Sighting): void {
    if (this.count === this.cap) {
      const old = this.oldest!;
      this.unlink(old);
      old.x.pending!.delete(old.k);
      this.unjudged++;
    }
    s.older = this.newest;
    if (this.newest) this.newest.newer = s;
    else this.oldest = s;
    this.newest = s;
    this.count++;
  }

  private unlink(s: Sighting): void {
    if (s.older) s.older.newer = s.newer;
    else this.oldest = s.newer;
    if (s.newer) s.newer.older = s.older;
    else this.newest = s.older;
    s.older = s.newer = undefined;
    this.count--;
  }

  private pair(x: Crossing, a: number, b: number, make: boolean): Pair | undefined {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const pairs = x.pairs;
    if (pairs) for (const p of pairs) if (p.lo === lo && p.hi === hi) return p;
    if (!make) return undefined;
    const p: Pair = { lo, hi, min: [Infinity, Infinity], max: [-Infinity, -Infinity], n: [0, 0], passed: [0, 0], passedLargest: [0, 0], gap: [undefined, undefined] };
    (x.pairs ??= []).push(p);
    return p;
  }

  /** A packet seen at point a at ta and at b at tb: their order, and what got through (`len` 0: no size, a segment of a GSO packet). */
  private both(x: Crossing, d: number, a: number, ta: number, b: number, tb: number, len: number): void {
    const p = this.pair(x, a, b, true)!;
    const delay = a === p.lo ? tb - ta : ta - tb;
    if (delay < p.min[d]!) p.min[d] = delay;
    if (delay > p.max[d]!) p.max[d] = delay;
    p.n[d]!++;
    if (x.unplaced) this.place(x, p, Math.max(ta, tb));
    this.passed(p, d, len, Math.max(ta, tb));
  }

  /** Losses between the pair's two points that waited for their order: lost where the order says so, else none. */
  private place(x: Crossing, p: Pair, ts: number): void {
    const u = x.unplaced!;
    for (let i = u.length - 1; i >= 0; i--) {
      const w = u[i]!;
      if (Math.min(w.from, w.to) !== p.lo || Math.max(w.from, w.to) !== p.hi) continue;
      const up = upstream(p, w.d);
      if (up < 0) continue;
      u.splice(i, 1);
      if (up === w.from) this.lose(p, x, w.d, w.from, w.to, w.count, w.smallest, w.largest, w.df, ts);
    }
    if (!u.length) x.unplaced = undefined;
  }

  private unplace(x: Crossing, d: number, from: number, to: number, s: Sighting): void {
    const u = (x.unplaced ??= []);
    let w = u.find((y) => y.d === d && y.from === from && y.to === to);
    if (!w) u.push((w = { d, from, to, count: 0, smallest: Infinity, largest: 0, df: 0 }));
    w.count += s.copies;
    if (s.len < w.smallest) w.smallest = s.len;
    if (s.len > w.largest) w.largest = s.len;
    if (s.df) w.df += s.copies;
  }

  /** A packet got through between the pair's points; `len` 0 when that says no size (see the top of this file). */
  private passed(p: Pair, d: number, len: number, ts: number): void {
    p.passed[d]!++;
    if (len <= p.passedLargest[d]!) return;
    p.passedLargest[d] = len;
    const g = p.gap[d];
    if (g && g.saidCount && len > g.saidPassed) this.say(g, ts);
  }

  /** Whether a merged packet at a point covers an awaited one. */
  private covered(x: Crossing, point: number, s: Sighting): boolean {
    const r = x.ranges;
    if (!r || s.end === s.seq) return false;
    const tag = point * 2 + s.d;
    for (let i = 0; i < r.length; i += 4) {
      if (r[i] !== tag || Math.abs(r[i + 3]! - s.ts) > WINDOW_MS) continue;
      if (!before(s.seq, r[i + 1]!) && !before(r[i + 2]!, s.end)) return true;
    }
    return false;
  }

  /**
   * A packet no longer awaited: for each point capturing meanwhile that did
   * not see it, the loss is between it and the nearest point upstream that
   * did (told at most once, at the nearest missing point); while their order
   * is not known, it waits unplaced. A point upstream of one that saw it did
   * not lose it.
   */
  private judge(s: Sighting, now: number): void {
    const x = s.x;
    const d = s.d;
    const isUp = (a: number, b: number) => {
      const p = this.pair(x, a, b, false);
      return p !== undefined && upstream(p, d) === a;
    };
    const seenAt = bits(s.mask);
    const found: [from: number, to: number, pair: Pair][] = [];
    const points = Math.min(this.host.points(), MAX_POINTS);
    for (let to = 0; to < points; to++) {
      if (s.mask & (1 << to) || !this.host.capturing(to, s.ts, s.ts + WINDOW_MS)) continue;
      if (!s.whole && x.merged[d]! & (1 << to)) continue; // see the top of this file
      let from = -1;
      let undecided = -1;
      let upstreamOfOne = false;
      for (const a of seenAt) {
        const p = this.pair(x, a, to, false);
        const up = p ? upstream(p, d) : -1;
        if (up === a) {
          if (from < 0 || isUp(from, a)) from = a;
        } else if (up === to) upstreamOfOne = true;
        else if (undecided < 0) undecided = a;
      }
      if (from < 0 && (upstreamOfOne || undecided < 0)) continue;
      if (this.covered(x, to, s)) {
        if (from >= 0) this.passed(this.pair(x, from, to, false)!, d, 0, now);
      } else if (from >= 0) found.push([from, to, this.pair(x, from, to, false)!]);
      else this.unplace(x, d, undecided, to, s);
    }
    for (const [from, to, pair] of found) {
      // A missing point between the two is where it was lost first.
      if (found.some(([f, t]) => t !== to && f === from && isUp(t, to))) continue;
      this.lose(pair, x, d, from, to, s.copies, s.len, s.len, s.df ? s.copies : 0, now);
    }
  }

  private lose(pair: Pair, x: Crossing, d: number, from: number, to: number, count: number, smallest: number, largest: number, df: number, ts: number): void {
    let g = pair.gap[d];
    if (!g) {
      g = { x, d, pair, from, to, count: 0, smallest: Infinity, largest: 0, df: 0, saidCount: 0, saidSmallest: Infinity, saidLargest: 0, saidPassed: 0 };
      pair.gap[d] = g;
    } else if (g.from !== from) {
      return; // the order turned round: what was said of it stands
    }
    g.count += count;
    if (smallest < g.smallest) g.smallest = smallest;
    if (largest > g.largest) g.largest = largest;
    g.df += df;
    const say = g.saidCount === 0 ? g.largest >= this.sizeMin : g.count >= 2 * g.saidCount || g.smallest < g.saidSmallest || g.largest > g.saidLargest;
    if (say) this.say(g, ts);
  }

  private say(g: Gap, ts: number): void {
    const { x, d, pair } = g;
    const at = this.host.point(g.from);
    const to = this.host.point(g.to);
    // Fields in the contract's order: flow, then flags, last.
    const ev = {
      type: 'event',
      kind: 'lost',
      ts,
      netns: at.netns,
      iface: at.iface,
      dir: null,
      src: x.addr[d],
      dst: x.addr[1 - d],
      sport: x.port[d],
      dport: x.port[1 - d],
      proto: protoName(x.proto),
      lost: { netns: to.netns, iface: to.iface, count: g.count, smallest: g.smallest, largest: g.largest, df: g.df, passed: pair.passed[d]!, passedLargest: pair.passedLargest[d]! },
    } as EventJson;
    const state = this.host.state(g.from, x, d);
    if (state) ev.flow = state;
    ev.flags = g.df === g.count ? ['df'] : [];
    g.saidCount = g.count;
    g.saidSmallest = g.smallest;
    g.saidLargest = g.largest;
    g.saidPassed = pair.passedLargest[d]!;
    this.said.add(g);
    this.host.emit(ev);
  }
}
