// The verdict engine: events in (with their own timestamps), verdicts out.
// Pure and deterministic: no kernel, no clock. A verdict depends on the set
// of facts a flow has gathered, not on the order they arrived in, so
// out-of-order and duplicate events change nothing, and live runs, replays
// and tests agree.

import type { CorrelatorEvent, EventJson, LostJson, RouteEventJson } from '../contract/event.js';
import type { EvidenceJson, FlowJson, VerdictJson } from '../contract/verdict.js';
import { protoName, type FlowStateJson, type MssSeenJson } from '../contract/event.js';
import { encapOverhead, ENCAP_NAMES, TCP_IP_HEADERS, tunnelOfFlow, tunnelProto } from '../net/encap.js';
import { appliedPmtu, familyOf, MIN_PMTU } from '../net/pmtu.js';
import { tunnelMss, tunnelMssNote, tunnelText, type TunnelSeen } from './encap.js';
import { fixFor } from './fixes.js';
import { endHash, endsHash, RecencyTable, type TableEntry } from './recency.js';

export interface CorrelatorOptions {
  /** Flows with no event for this long (event time) are forgotten. Default 5 minutes. */
  idleMs?: number;
  /** At most this many flows; the least recently active go first. Default 65536. */
  maxFlows?: number;
  /**
   * At most this many flows known only from ICMP errors about them (waiting
   * for a packet of their own); the least recently active go first. Default 4096.
   */
  maxUnconfirmed?: number;
  /**
   * The events' netns are capture points (analyze: a file or its interface),
   * not namespaces: fixes name no namespace to enter and speak of the hosts
   * on either side of the capture.
   */
  capture?: boolean;
}

export interface CorrelatorStats {
  flows: number;
  /** Flows forgotten because the table was full. */
  evicted: number;
  /** Flows forgotten after idling. */
  expired: number;
  /**
   * ICMP errors (PTBs, their drops, the route lookups they prompted) that match
   * no flow seen otherwise: quoting nothing usable, or a flow none of whose own
   * packets was seen (spoofed, or older than the observer). They make no
   * verdict; a flow seen later takes its errors back from this count.
   */
  unmatched: number;
  events: number;
}

/** What push() returns when nothing changed: shared, never written. */
const NO_VERDICTS: VerdictJson[] = Object.freeze([]) as unknown as VerdictJson[];

/** Facts are kept per kind in small lists keyed (fact.id) so that a repeat replaces, never adds. */
const MAX_FACTS = 32;

/**
 * A sender that heeds a PTB sends nothing too big again within a round trip:
 * what was in flight when the PTB left may still arrive. A too-big packet
 * this long after the PTBs began is the sender retransmitting the same
 * segment (TCP's RTO is at least 200 ms, and backs off): it never learned.
 */
const HEEDLESS_MS = 500;
/**
 * PTBs further apart than this start a new run: a cached PMTU expires (10
 * minutes by default) and the sender rightly tries the larger size again.
 */
const EPISODE_GAP_MS = 30_000;

interface Fact {
  /** The key it is stored under: ties are broken on it. */
  id?: string;
  ts: number;
  netns: string;
  iface: string;
}
interface PtbFact extends Fact {
  kind: 'ptb' | 'ptb-sent';
  dir: string | null;
  hop: string | null;
  mtu: number;
  /** The host the PTB goes to: the sender of the too-big packet. */
  to: string;
  mtuIface: string | null;
  /** How many came under this key, and when the latest run of them began (see EPISODE_GAP_MS). */
  count: number;
  episodeStart: number;
  /** The tunnel packet it quotes, when it quotes one (the flow is inside it). */
  tunnel?: TunnelSeen | undefined;
}
interface DropFact extends Fact {
  reason: string;
  hop: string | null;
  mtu: number;
  len: number;
  mtuIface: string | null;
  mtuNetns: string | null;
  src: string;
  /** How many came under this key. */
  count: number;
  /** Of those, how many came HEEDLESS_MS or more after a PTB this namespace generated for them (see unheededDrop). */
  unheeded: number;
  /** The tunnel the dropped packet was in (len is the inner packet's). */
  tunnel?: TunnelSeen | undefined;
}
interface SizeFact extends Fact {
  dir: string | null;
  src: string;
  len: number;
  ifMtu: number;
}
interface SynFact extends Fact {
  dir: string | null;
  src: string;
  dst: string;
  mss: number;
  synAck: boolean;
  ifMtu: number;
  family: 4 | 6;
  /** The tunnel the SYN was seen in (ifMtu is its link's, the tunnel's headers not taken off). */
  tunnel?: TunnelSeen | undefined;
}
interface RetransmitFact extends Fact {
  src: string;
  len: number;
  mss: number;
  /** Timeouts in a row when it was sent (absent from captures before 0.2). */
  timeouts?: number;
}
/** What the kernel's flow table knew of the flow in one namespace, as the latest event from there carried it. */
interface KernelFact {
  id?: string;
  ts: number;
  netns: string;
  /** The event's subject, which the state's directions (fwd = src -> dst) and initiator refer to. */
  src: string;
  dst: string;
  state: FlowStateJson;
}
interface RouteFact {
  id?: string;
  ts: number;
  netns: string;
  dst: string;
  mtu: number;
  learned: boolean;
  expected: number;
  /** Shown by a capture (the sender's segments), not asked of its kernel. */
  fromCapture: boolean;
}
/** Packets of the flow from `src` seen at one capture point (netns, iface) that never reached the next (`lost` events, analyze). */
interface LostFact extends Fact, Omit<LostJson, 'netns' | 'iface'> {
  src: string;
  /** The point the packets never reached (the event's `lost.netns`, `lost.iface`). */
  next: { netns: string; iface: string };
}

/** The fact stored under a key. */
function factAt<T extends { id?: string }>(list: readonly T[], key: string): T | undefined {
  for (let i = 0; i < list.length; i++) if (list[i]!.id === key) return list[i];
  return undefined;
}

/**
 * Stores a fact under its key, in place of the one there (a list in the order
 * keys first came, as a Map keeps them: a flow holds one or two facts of a
 * kind, and a Map of one costs more than the fact).
 */
function put<T extends { id?: string }>(list: T[], key: string, fact: T): void {
  let at = -1;
  for (let i = 0; i < list.length; i++) {
    if (list[i]!.id === key) {
      at = i;
      break;
    }
  }
  if (at < 0 && list.length >= MAX_FACTS) {
    // Full: the fact that sorts first goes, whatever order facts came in.
    let first = 0;
    for (let i = 1; i < list.length; i++) if (list[i]!.id! < list[first]!.id!) first = i;
    if (list[first]!.id! < key) list.splice(first, 1);
    else return;
  }
  // Facts are made for this call: stamping the key on it saves a copy
  // (object spread is a slow path in V8, ~15 us here).
  fact.id = key;
  if (at < 0) list.push(fact);
  else list[at] = fact;
}

/**
 * The fact with the highest score; ties go to the earlier one, then to the
 * smaller key, so the choice never depends on the order facts arrived in.
 */
function maxBy<T extends { ts: number; id?: string }>(items: readonly T[], score: (t: T) => number): T | undefined {
  let best: T | undefined;
  for (let i = 0; i < items.length; i++) {
    const t = items[i]!;
    if (best === undefined) {
      best = t;
      continue;
    }
    if (beats(t, best, score(t) - score(best))) best = t;
  }
  return best;
}

/** Whether t takes best's place in maxBy, d being t's score minus best's. */
function beats(t: { ts: number; id?: string }, best: { ts: number; id?: string }, d: number): boolean {
  return d > 0 || (d === 0 && (t.ts < best.ts || (t.ts === best.ts && (t.id ?? '') < (best.id ?? ''))));
}

function byTimeThenKey(a: { ts: number; id?: string }, b: { ts: number; id?: string }): number {
  return a.ts - b.ts || ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0);
}

/** Facts in a stable order: by time, then key. Not to be written: a list of one or none is the list itself. */
function ordered<T extends { ts: number; id?: string }>(items: readonly T[]): readonly T[] {
  return items.length < 2 ? items : [...items].sort(byTimeThenKey);
}

// Scores for maxBy, made once rather than a closure per call.
const LATEST = (f: { ts: number }) => f.ts;
const LONGEST = (d: DropFact) => d.len;
const NARROWEST = (s: SynFact) => -s.ifMtu;
const NARROWEST_STATE = (k: KernelFact) => -k.state.minMtu!.mtu;

/** Where a fact was seen, as a person reads it: a capture point without an interface name of its own (a pcap's file name) once. */
function at(f: { netns: string; iface: string }): string {
  return f.netns && f.netns === f.iface ? f.netns : `${f.netns || '?'}/${f.iface || '?'}`;
}

function endpoint(addr: string, port: number): string {
  return `${addr}|${port}`;
}

export function flowKey(f: FlowJson): string {
  const a = endpoint(f.src, f.sport);
  const b = endpoint(f.dst, f.dport);
  return `${f.proto}|${a < b ? `${a}>${b}` : `${b}>${a}`}`;
}

interface FactKinds {
  ptbs: PtbFact;
  ptbDrops: DropFact;
  tooBig: DropFact;
  l2: DropFact;
  decapDrops: DropFact;
  sizes: SizeFact;
  syns: SynFact;
  retransmits: RetransmitFact;
  routes: RouteFact;
  kernel: KernelFact;
  lost: LostFact;
}

/**
 * What a flow without facts of a kind reads: shared, never written (writes go
 * through putFact; readonly keeps the rest out). Not frozen: V8 runs a for-of
 * over a frozen array through the generic iterator, ~90 bytes of garbage a
 * loop, and judge() loops over a flow's empty kinds on every event.
 */
const NO_FACTS: readonly never[] = [];
const NO_NOTES: readonly string[] = [];

interface Flow extends TableEntry {
  /** Its place in the order flows were made in: verdicts() lists them so (a Map's order, once). */
  readonly seq: number;
  lastTs: number;
  /** Shown as seen from the connection's initiator when a SYN told us who that is. */
  shown: FlowJson;
  initiatorKnown: boolean;
  /**
   * Facts by kind, written only through putFact(). A flow usually has one or
   * two kinds, so each list is made on its first fact (most flows would
   * otherwise carry seven empty ones); until then it is NO_FACTS.
   */
  ptbs: readonly PtbFact[];
  ptbDrops: readonly DropFact[];
  tooBig: readonly DropFact[];
  l2: readonly DropFact[];
  /** Packets a tunnel decapsulated, dropped by strict rp_filter (seed 004's realservers). */
  decapDrops: readonly DropFact[];
  sizes: readonly SizeFact[];
  syns: readonly SynFact[];
  retransmits: readonly RetransmitFact[];
  routes: readonly RouteFact[];
  kernel: readonly KernelFact[];
  lost: readonly LostFact[];
  /**
   * The verdict push() last returned for the flow, or undefined while it is
   * judge(flow, judgedTs): made from the facts as they still are. A flow most
   * often has one event, and the verdict of it (~400 bytes; a flow of one SYN
   * is ~500 without it) need not be kept until a fact comes that may change it, or
   * verdicts() is asked.
   */
  verdict: VerdictJson | undefined;
  /**
   * judgedTs, when it is not lastTs (an event older than the flow's latest).
   * Mostly it is: a number of its own takes the flow 16 bytes more (V8 boxes
   * a double held in a field), undefined none.
   */
  judgedTs: number | undefined;
}

/**
 * A flow is made by one object literal rather than as a class instance: V8
 * makes a literal at once from its template, where a class (ES2022 fields)
 * defines its 22 fields one by one; a new flow's push took ~20% longer so.
 */
function newFlow(shown: FlowJson, ts: number, seq: number): Flow {
  return {
    endpoints: shown,
    hash: 0,
    nextInBucket: undefined,
    older: undefined,
    newer: undefined,
    seq,
    lastTs: ts,
    shown,
    initiatorKnown: false,
    ptbs: NO_FACTS,
    ptbDrops: NO_FACTS,
    tooBig: NO_FACTS,
    l2: NO_FACTS,
    decapDrops: NO_FACTS,
    sizes: NO_FACTS,
    syns: NO_FACTS,
    retransmits: NO_FACTS,
    routes: NO_FACTS,
    kernel: NO_FACTS,
    lost: NO_FACTS,
    verdict: undefined,
    judgedTs: undefined,
  };
}

/** The fields recycledFlow() sets: all of a flow's (each named: a new kind of fact is a new field to set). */
type RecycledFields =
  | keyof TableEntry
  | 'seq'
  | 'lastTs'
  | 'shown'
  | 'initiatorKnown'
  | 'ptbs'
  | 'ptbDrops'
  | 'tooBig'
  | 'l2'
  | 'decapDrops'
  | 'sizes'
  | 'syns'
  | 'retransmits'
  | 'routes'
  | 'kernel'
  | 'lost'
  | 'verdict'
  | 'judgedTs';
/** A field added to Flow fails to compile here until recycledFlow() sets it too (and RecycledFields lists it). */
type AllFlowFieldsRecycled<Left extends never = Exclude<keyof Flow, RecycledFields>> = Left;

/** An evicted flow's object made the new flow newFlow() would make: nothing of the old one left. */
function recycledFlow(f: Flow, shown: FlowJson, ts: number, seq: number): Flow {
  const w = f as { -readonly [K in keyof Flow]: Flow[K] };
  w.endpoints = shown;
  w.hash = 0;
  w.nextInBucket = undefined;
  w.older = undefined;
  w.newer = undefined;
  w.seq = seq;
  w.lastTs = ts;
  w.shown = shown;
  w.initiatorKnown = false;
  w.ptbs = NO_FACTS;
  w.ptbDrops = NO_FACTS;
  w.tooBig = NO_FACTS;
  w.l2 = NO_FACTS;
  w.decapDrops = NO_FACTS;
  w.sizes = NO_FACTS;
  w.syns = NO_FACTS;
  w.retransmits = NO_FACTS;
  w.routes = NO_FACTS;
  w.kernel = NO_FACTS;
  w.lost = NO_FACTS;
  w.verdict = undefined;
  w.judgedTs = undefined;
  return f;
}

/** The verdict push() last returned, kept from now on. */
function currentVerdict(flow: Flow, capture: boolean): VerdictJson {
  return (flow.verdict ??= judge(flow, flow.judgedTs ?? flow.lastTs, capture));
}

/** Stores a fact of a kind under its key (see put); the first one makes the list, of just that one (an empty list would take room for 17). */
function putFact<K extends keyof FactKinds>(flow: Flow, kind: K, key: string, fact: FactKinds[K]): void {
  const lists = flow as unknown as Record<K, FactKinds[K][]>;
  const list = lists[kind];
  if ((list as readonly unknown[]) !== NO_FACTS) {
    put(list, key, fact);
    return;
  }
  fact.id = key;
  lists[kind] = [fact];
}

function flowOf(x: FlowFields): FlowJson | undefined {
  if (x.src === undefined || x.dst === undefined || x.proto === undefined) return undefined;
  return { src: x.src, dst: x.dst, sport: x.sport ?? 0, dport: x.dport ?? 0, proto: x.proto };
}

type FlowFields = { src?: string; dst?: string; sport?: number; dport?: number; proto?: string | number };

/** Where the fields of an event's subject are: the quoted flow for ICMP errors, else the event itself. */
function subjectFields(ev: CorrelatorEvent): FlowFields | undefined {
  if (ev.kind === 'route') return ev.inner;
  if (ev.kind === 'ptb' || ev.kind === 'ptb-sent') return ev.inner;
  if (ev.kind === 'drop' && ev.flags.includes('icmp-error')) return ev.inner;
  return ev;
}

/** The flow an event is about: the quoted one for ICMP errors, else the packet's own. */
export function subject(ev: CorrelatorEvent): FlowJson | undefined {
  const x = subjectFields(ev);
  return x ? flowOf(x) : undefined;
}

/**
 * A concatenation made one flat string: what a flow keeps (its key, its
 * facts' keys, its evidence) would otherwise stay a tree of the
 * concatenations it was made of (V8's cons strings, 32 bytes a node; ~380 of
 * a flow's ~1400 bytes were those). Reading a character makes V8 flatten the
 * string in place, which costs half of joining a list of its parts.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/** Whether the flow shown already is an event's own (src, dst, ports, proto), so it need not be made again. */
function sameFlow(f: FlowJson, ev: EventJson): boolean {
  return f.src === ev.src && f.dst === ev.dst && f.sport === (ev.sport ?? 0) && f.dport === (ev.dport ?? 0) && f.proto === ev.proto;
}

/**
 * True when an event shows the flow's own packets (a SYN, a size, a
 * retransmission, a drop of one) or this host generating an error about one.
 * An ICMP error that arrived from elsewhere proves nothing: anyone can send
 * one quoting any flow, which is why the kernel checks a PTB against the
 * socket it names before it believes it.
 */
function confirms(ev: CorrelatorEvent): boolean {
  if (ev.kind === 'route') return false;
  if (ev.flow) {
    // 0.2 on, the kernel says: known means the flow's own packets crossed a hook in this namespace.
    if (ev.flow.known) return true;
    // A PTB leaving from a local socket proves nothing (a raw socket can send any), nor does one
    // arriving; one the IPv4 stack generated itself (the tracepoint) is about a packet it held.
    if (ev.kind === 'ptb' || ev.kind === 'ptb-sent') return ev.kind === 'ptb-sent' && ev.dir === null;
    return !ev.flags.includes('icmp-error');
  }
  if (ev.kind === 'ptb') return ev.flags.includes('local');
  if (ev.kind === 'drop') return !ev.flags.includes('icmp-error');
  return true;
}

export class Correlator {
  private readonly flows = new RecencyTable<Flow>();
  /**
   * Flows only ICMP errors spoke of so far: no verdict until a packet of their
   * own is seen. Their events are kept as they came (a flood of spoofed PTBs
   * should cost little) and recorded when the flow is confirmed.
   */
  private readonly unconfirmed = new RecencyTable<Unconfirmed>();
  private readonly idleMs: number;
  private readonly maxFlows: number;
  private readonly maxUnconfirmed: number;
  private readonly capture: boolean;
  private now = -Infinity;
  private lastSweep = -Infinity;
  private flowsMade = 0;
  /**
   * The last end hashed on either side: a host's flows share its server's end
   * (or its own), and a flood quotes the same flow again and again (with the
   * same address strings, decode.ts reuses them).
   */
  private readonly lastSrcEnd: HashedEnd = { addr: '', port: -1, hash: 0 };
  private readonly lastDstEnd: HashedEnd = { addr: '', port: -1, hash: 0 };
  private readonly counters: CorrelatorStats = { flows: 0, evicted: 0, expired: 0, unmatched: 0, events: 0 };

  constructor(opts: CorrelatorOptions = {}) {
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.maxFlows = opts.maxFlows ?? 65536;
    this.maxUnconfirmed = opts.maxUnconfirmed ?? 4096;
    this.capture = opts.capture ?? false;
  }

  /** Takes one event; returns the verdicts it changed (usually none or one). */
  push(ev: CorrelatorEvent): VerdictJson[] {
    // A drop of a tunnel's packet is a fact of the flow inside it and of the tunnel's own flow too.
    const own = ev.kind === 'drop' ? tunnelFlowDrop(ev) : undefined;
    if (!own) return this.pushOne(ev, true);
    const a = this.pushOne(own, false);
    const b = this.pushOne(ev, true);
    return a.length ? (b.length ? [...a, ...b] : a) : b;
  }

  /** push() for one event; `counted`: it is one of the stream's, not made of one. */
  private pushOne(ev: CorrelatorEvent, counted: boolean): VerdictJson[] {
    // No verdict from a packet its destination cannot have sent, or an error quoting nothing usable.
    if (ev.kind !== 'route' && ev.flags.includes('quote-mismatch')) {
      this.pushQuoteMismatch(ev.ts, ev.flags.includes('icmp-error'));
      return NO_VERDICTS;
    }
    if (counted) this.counters.events++;
    if (ev.ts > this.now) this.now = ev.ts;
    if (this.now - this.lastSweep >= 1000) this.sweep();
    const x = subjectFields(ev);
    if (!x || x.src === undefined || x.dst === undefined || x.proto === undefined) {
      if (ev.kind !== 'route' && ev.flags.includes('icmp-error')) this.counters.unmatched++;
      return NO_VERDICTS;
    }
    const sport = x.sport ?? 0;
    const dport = x.dport ?? 0;
    const hash = this.hashOf(x.src, sport, x.dst, dport, x.proto);
    let flow = this.flows.find(hash, x.src, sport, x.dst, dport, x.proto);
    if (flow) {
      this.flows.touch(flow);
      // The verdict to compare with is made from the facts before this event.
      currentVerdict(flow, this.capture);
    } else {
      const aside = this.unconfirmed.size ? this.unconfirmed.find(hash, x.src, sport, x.dst, dport, x.proto) : undefined;
      if (!confirms(ev)) {
        // Kept aside so that the verdict does not depend on whether the error
        // or the flow's first packet came first.
        if (aside) {
          this.unconfirmed.touch(aside);
          if (ev.ts > aside.lastTs) aside.lastTs = ev.ts;
          aside.errors++;
          keep(aside, ev);
        } else {
          this.unconfirmed.makeRoom(this.maxUnconfirmed);
          this.unconfirmed.add(newUnconfirmed(flowOf(x)!, ev), hash);
        }
        this.counters.unmatched++;
        return NO_VERDICTS;
      }
      // A full table's least recent flow goes first: the new one takes its object.
      const spare = this.makeRoomForFlow();
      flow = spare ? recycledFlow(spare, flowOf(x)!, ev.ts, this.flowsMade++) : newFlow(flowOf(x)!, ev.ts, this.flowsMade++);
      if (aside) {
        this.unconfirmed.delete(aside);
        this.counters.unmatched -= aside.errors;
        const kept = aside.events;
        for (let i = 0; i < kept.length; i++) {
          const e = kept[(aside.oldest + i) % kept.length]!;
          if (e.ts > flow.lastTs) flow.lastTs = e.ts;
          record(flow, e);
        }
      }
      this.flows.add(flow, hash);
    }
    if (ev.ts > flow.lastTs) flow.lastTs = ev.ts;
    record(flow, ev);

    const next = judge(flow, ev.ts, this.capture);
    const prev = flow.verdict;
    if (prev && sameVerdict(prev, next)) {
      // No new line, but verdicts() (the screen, the feed's snapshot) shows the evidence as it is now: counts go on.
      flow.verdict = next;
      return NO_VERDICTS;
    }
    flow.verdict = undefined;
    flow.judgedTs = ev.ts === flow.lastTs ? undefined : ev.ts;
    return [next];
  }

  /**
   * A quote-mismatch event (a packet its destination cannot have sent), taken
   * as push() takes it, from the two things it reads of one: its time, and
   * whether it is an ICMP error (counted unmatched). For a session that needs
   * no line of it (no sink takes events).
   */
  pushQuoteMismatch(ts: number, icmpError: boolean): void {
    this.counters.events++;
    if (ts > this.now) this.now = ts;
    if (this.now - this.lastSweep >= 1000) this.sweep();
    if (icmpError) this.counters.unmatched++;
  }

  /** Whether the flow of these fields (a quoted flow, either way round) is tracked: confirmed() without an event. */
  tracks(src: string, sport: number, dst: string, dport: number, proto: string | number): boolean {
    return this.flows.size > 0 && this.flows.find(this.hashOf(src, sport, dst, dport, proto), src, sport, dst, dport, proto) !== undefined;
  }

  /**
   * The table's makeRoom() for one more flow, which returns the last flow to
   * go: nothing refers to it any more (verdicts carry a flow's `shown`, never
   * the flow), so the new flow can be made in it. In a full table every new
   * flow evicts one, and allocating each afresh (in the old generation: V8
   * pretenures them) with its old one left to mark, sweep and give back took
   * ~15% of a 1M-flow run.
   */
  private makeRoomForFlow(): Flow | undefined {
    let gone: Flow | undefined;
    while (this.flows.size >= this.maxFlows && this.flows.size > 0) {
      gone = this.flows.oldest!;
      this.flows.delete(gone);
      this.counters.evicted++;
    }
    return gone;
  }

  /** endpointsHash(), each end's part the last one remembered when it is the same end. */
  private hashOf(src: string, sport: number, dst: string, dport: number, proto: string | number): number {
    return endsHash(rememberedEndHash(this.lastSrcEnd, src, sport), rememberedEndHash(this.lastDstEnd, dst, dport), proto);
  }

  /** Every flow's current verdict, troubled ones first. */
  /**
   * How many flows have each verdict and cause now (/metrics at each scrape):
   * judged as verdicts() does, but a verdict not kept already is not kept
   * now, so counting every flow does not grow every flow by its verdict.
   */
  verdictCounts(): { verdict: VerdictJson['verdict']; cause: string | null; flows: number }[] {
    const counts = new Map<string, { verdict: VerdictJson['verdict']; cause: string | null; flows: number }>();
    for (const f of this.flows.oldestFirst()) {
      const v = f.verdict ?? judge(f, f.judgedTs ?? f.lastTs, this.capture);
      const key = `${v.verdict}|${v.cause ?? ''}`;
      const c = counts.get(key);
      if (c) c.flows++;
      else counts.set(key, { verdict: v.verdict, cause: v.cause, flows: 1 });
    }
    return [...counts.values()];
  }

  verdicts(): VerdictJson[] {
    const flows: Flow[] = [];
    for (const f of this.flows.oldestFirst()) flows.push(f);
    // Ties in the order the flows were made (as a Map of them kept them).
    flows.sort((a, b) => a.seq - b.seq);
    const all = flows.map((f) => currentVerdict(f, this.capture));
    return all.sort((a, b) => severity(b.verdict) - severity(a.verdict) || b.ts - a.ts);
  }

  stats(): CorrelatorStats {
    return { ...this.counters, flows: this.flows.size };
  }

  /** True when the flow an event is about has been seen itself (it has, or will get, a verdict). */
  confirmed(ev: CorrelatorEvent): boolean {
    const x = subjectFields(ev);
    if (!x || x.src === undefined || x.dst === undefined || x.proto === undefined) return false;
    return this.tracks(x.src, x.sport ?? 0, x.dst, x.dport ?? 0, x.proto);
  }

  /** Forgets idle flows; push() calls it at most once per second of event time. */
  private sweep(): void {
    this.lastSweep = this.now;
    for (const flow of this.flows.oldestFirst()) {
      if (this.now - flow.lastTs < this.idleMs) break; // the rest are newer
      this.flows.delete(flow);
      this.counters.expired++;
    }
    for (const aside of this.unconfirmed.oldestFirst()) {
      if (this.now - aside.lastTs < this.idleMs) break;
      this.unconfirmed.delete(aside); // its errors stay counted as unmatched
    }
  }
}

/** An end of a flow and its endHash(). */
interface HashedEnd {
  addr: string;
  port: number;
  hash: number;
}

/** endHash(), from `last` when it is that end's, else remembered there. */
function rememberedEndHash(last: HashedEnd, addr: string, port: number): number {
  if (port !== last.port || addr !== last.addr) {
    last.addr = addr;
    last.port = port;
    last.hash = endHash(addr, port);
  }
  return last.hash;
}

/** A flow known only from ICMP errors about it. */
interface Unconfirmed extends TableEntry {
  lastTs: number;
  /** How many (counted in unmatched until the flow is confirmed). */
  errors: number;
  /** The last MAX_FACTS of them: once full, a ring whose oldest is at `oldest`. */
  events: CorrelatorEvent[];
  oldest: number;
}

function newUnconfirmed(flow: FlowJson, first: CorrelatorEvent): Unconfirmed {
  return { endpoints: flow, hash: 0, nextInBucket: undefined, older: undefined, newer: undefined, lastTs: first.ts, errors: 1, events: [first], oldest: 0 };
}

/** Keeps an error aside in place of the oldest once MAX_FACTS are (a ring: shift() and push() moved the list every time). */
function keep(u: Unconfirmed, ev: CorrelatorEvent): void {
  if (u.events.length < MAX_FACTS) {
    u.events.push(ev);
    return;
  }
  u.events[u.oldest] = ev;
  u.oldest = (u.oldest + 1) % MAX_FACTS;
}


const SEVERITY: Record<VerdictJson['verdict'], number> = {
  'ptb-dropped': 5,
  'ptb-not-honored': 5,
  'silent-blackhole': 5,
  'local-bottleneck': 4,
  'mss-exceeds-path': 2,
  'ptb-honored': 1,
  ok: 0,
};

export function severity(v: VerdictJson['verdict']): number {
  return SEVERITY[v];
}

/** Verdicts from this severity on are trouble; below it, information (mss-exceeds-path is a warning). */
export const TROUBLE = 3;

function sameVerdict(a: VerdictJson, b: VerdictJson): boolean {
  return (
    a.verdict === b.verdict &&
    a.cause === b.cause &&
    a.mtu === b.mtu &&
    a.where.netns === b.where.netns &&
    a.where.iface === b.where.iface &&
    a.where.hop === b.where.hop &&
    a.where.next?.netns === b.where.next?.netns &&
    a.where.next?.iface === b.where.next?.iface &&
    a.bounds?.largestOk === b.bounds?.largestOk &&
    a.bounds?.smallestLost === b.bounds?.smallestLost &&
    sameNotes(a.notes, b.notes)
  );
}

/** a.notes.join('\n') === b.notes.join('\n'), without joining when they are the same note for note. */
function sameNotes(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === b.length) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    if (i === a.length) return true;
  }
  return a.join('\n') === b.join('\n');
}

function record(flow: Flow, ev: CorrelatorEvent): void {
  if (ev.kind === 'route') {
    recordRoute(flow, ev);
    return;
  }
  if (ev.flow?.known) recordKernel(flow, ev);
  switch (ev.kind) {
    case 'ptb':
    case 'ptb-sent': {
      const to = ev.kind === 'ptb' ? (ev.dst ?? ev.inner!.src) : ev.inner!.src;
      const hop = ev.kind === 'ptb' ? (ev.src ?? null) : null;
      const key = `${ev.kind}|${ev.netns}|${ev.iface}|${ev.dir}|${ev.mtu}|${hop}`;
      const prior = factAt(flow.ptbs, key);
      putFact(flow, 'ptbs', key, {
        ts: ev.ts,
        netns: ev.netns,
        iface: ev.iface,
        kind: ev.kind,
        dir: ev.dir,
        hop,
        mtu: ev.mtu ?? 0,
        to,
        mtuIface: ev.mtuIface ?? null,
        count: (prior?.count ?? 0) + 1,
        episodeStart: prior && ev.ts - prior.ts < EPISODE_GAP_MS ? prior.episodeStart : ev.ts,
        tunnel: tunnelOf(ev, true),
      });
      return;
    }
    case 'drop': {
      const fact: DropFact = {
        ts: ev.ts,
        netns: ev.netns,
        iface: ev.iface,
        reason: ev.reason ?? 'NOT_SPECIFIED',
        hop: ev.flags.includes('icmp-error') ? (ev.src ?? null) : null,
        mtu: ev.mtu ?? 0,
        len: ev.len ?? 0,
        mtuIface: ev.mtuIface ?? null,
        mtuNetns: ev.mtuNetns ?? null,
        src: ev.src ?? '',
        count: 1,
        unheeded: 0,
        tunnel: tunnelOf(ev, false),
      };
      const key = `${ev.netns}|${ev.iface}|${fact.reason}|${fact.hop}|${fact.mtu}|${fact.len}`;
      if (ev.flags.includes('icmp-error')) putFact(flow, 'ptbDrops', key, fact);
      else if (fact.reason === 'PKT_TOO_BIG') {
        const prior = factAt(flow.tooBig, key);
        fact.count += prior?.count ?? 0;
        fact.unheeded = (prior?.unheeded ?? 0) + (unheededDrop(flow, fact) ? 1 : 0);
        putFact(flow, 'tooBig', key, fact);
      } else if (ev.flags.includes('oversize')) putFact(flow, 'l2', key, fact);
      else if (fact.reason === 'IP_RPFILTER') {
        // The kernel reports rp_filter's drops of other packets only where a tunnel decapsulated them.
        fact.count += factAt(flow.decapDrops, key)?.count ?? 0;
        putFact(flow, 'decapDrops', key, fact);
      }
      return;
    }
    case 'size': {
      putFact(flow, 'sizes', `${ev.netns}|${ev.iface}|${ev.dir}|${ev.src}`, {
        ts: ev.ts,
        netns: ev.netns,
        iface: ev.iface,
        dir: ev.dir,
        src: ev.src ?? '',
        len: Math.max(ev.len ?? 0, factAt(flow.sizes, `${ev.netns}|${ev.iface}|${ev.dir}|${ev.src}`)?.len ?? 0),
        ifMtu: ev.mtu ?? 0,
      });
      return;
    }
    case 'syn': {
      const synAck = ev.flags.includes('synack');
      const key = synKey(ev.netns, ev.iface, ev.dir, synAck);
      putFact(flow, 'syns', key, {
        id: key, // in the literal: set later, it would take the fact a property array of its own
        ts: ev.ts,
        netns: ev.netns,
        iface: ev.iface,
        dir: ev.dir,
        src: ev.src ?? '',
        dst: ev.dst ?? '',
        mss: ev.mss ?? 0,
        synAck,
        ifMtu: ev.mtu ?? 0,
        family: (ev.src ?? '').includes(':') ? 6 : 4,
        tunnel: tunnelOf(ev, false),
      });
      if (!synAck && !flow.initiatorKnown) {
        const f = sameFlow(flow.shown, ev) ? flow.shown : flowOf(ev);
        if (f) flow.shown = f;
        flow.initiatorKnown = true;
      }
      return;
    }
    case 'retransmit': {
      const fact: RetransmitFact = { ts: ev.ts, netns: ev.netns, iface: ev.iface, src: ev.src ?? '', len: ev.len ?? 0, mss: ev.mss ?? 0 };
      if (ev.timeouts !== undefined) fact.timeouts = ev.timeouts;
      putFact(flow, 'retransmits', `${ev.netns}|${ev.src}|${ev.len}|${ev.ts}`, fact);
      return;
    }
    case 'lost': {
      const l = ev.lost;
      if (!l) return;
      // Counts only grow: the account that has seen the most stands, whatever order the events came in.
      const key = `${ev.netns}|${ev.iface}|${l.netns}|${l.iface}|${ev.src}`;
      const prior = factAt(flow.lost, key);
      if (prior && (prior.count > l.count || (prior.count === l.count && prior.passed >= l.passed))) return;
      putFact(flow, 'lost', key, {
        ts: ev.ts,
        netns: ev.netns,
        iface: ev.iface,
        src: ev.src ?? '',
        next: { netns: l.netns, iface: l.iface },
        count: l.count,
        smallest: l.smallest,
        largest: l.largest,
        df: l.df,
        passed: l.passed,
        passedLargest: l.passedLargest,
      });
      return;
    }
  }
}

/**
 * The drop of a tunnel's packet as the tunnel's own flow saw it (its
 * endpoints, its protocol or UDP ports, the whole packet's length), without
 * the inner flow's kernel state; undefined for any other event.
 */
function tunnelFlowDrop(ev: EventJson): EventJson | undefined {
  const e = ev.encap;
  if (!e || e.quoted || ev.flags.includes('icmp-error')) return undefined;
  const { encap: _inner, flow: _state, ...rest } = ev;
  return { ...rest, src: e.src, dst: e.dst, sport: e.sport ?? 0, dport: e.dport ?? 0, proto: protoName(tunnelProto(e.type)), len: (ev.len ?? 0) + e.overhead };
}

/** The tunnel of an event: its own (quoted false) or the one its ICMP error quotes. */
function tunnelOf(ev: EventJson, quoted: boolean): TunnelSeen | undefined {
  const e = ev.encap;
  if (!e || (e.quoted === true) !== quoted) return undefined;
  return { type: e.type, overhead: e.overhead, src: e.src, dst: e.dst };
}

/** The last SYN key made: a host's SYNs are seen at the same few hooks, so their facts can share one string. */
const lastSynKey = { netns: '', iface: '', dir: '' as string | null, synAck: false, key: '' };

function synKey(netns: string, iface: string, dir: string | null, synAck: boolean): string {
  const m = lastSynKey;
  if (netns === m.netns && iface === m.iface && dir === m.dir && synAck === m.synAck && m.key !== '') return m.key;
  m.key = flat(`${netns}|${iface}|${dir}|${synAck}`);
  m.netns = netns;
  m.iface = iface;
  m.dir = dir;
  m.synAck = synAck;
  return m.key;
}

/** The latest state per namespace: the table's knowledge only grows, so the latest says the most. */
function recordKernel(flow: Flow, ev: EventJson): void {
  const subj = subject(ev);
  if (!subj) return;
  const prev = factAt(flow.kernel, ev.netns);
  if (prev && (prev.ts > ev.ts || (prev.ts === ev.ts && JSON.stringify(prev.state) >= JSON.stringify(ev.flow)))) return;
  putFact(flow, 'kernel', ev.netns, { ts: ev.ts, netns: ev.netns, src: subj.src, dst: subj.dst, state: ev.flow! });
}

function recordRoute(flow: Flow, ev: RouteEventJson): void {
  putFact(flow, 'routes', `${ev.netns}|${ev.dst}|${ev.expected}`, {
    ts: ev.ts,
    netns: ev.netns,
    dst: ev.dst,
    mtu: ev.mtu,
    learned: ev.learned,
    expected: ev.expected,
    fromCapture: ev.from === 'capture',
  });
}

function evidence(kind: string, f: Fact, what: string): EvidenceJson {
  return { ts: f.ts, kind, netns: f.netns, iface: f.iface, what };
}

const MAX_EVIDENCE = 8;

/** How a SYN's evidence text begins, by [synAck][direction]: made once, so that a text is three parts, not six. */
const SYN_FROM = [
  ['SYN ingress from ', 'SYN egress from ', 'SYN from '], // none said (a capture): "SYN from"
  ['SYN-ACK ingress from ', 'SYN-ACK egress from ', 'SYN-ACK from '],
] as const;

/** The last MSS's ", MSS 1460": a host's SYNs mostly advertise one. */
const lastMssText = { mss: NaN, text: '' };

function mssText(mss: number): string {
  const m = lastMssText;
  if (mss !== m.mss) {
    m.text = `, MSS ${mss}`;
    m.mss = mss;
  }
  return m.text;
}

function synEvidence(s: SynFact): EvidenceJson {
  const from = SYN_FROM[s.synAck ? 1 : 0][s.dir === 'ingress' ? 0 : s.dir === 'egress' ? 1 : 2];
  return evidence('syn', s, flat(`${from}${s.src}${mssText(s.mss)}`));
}

/** The verdict a flow's facts support, most serious first. */
function judge(flow: Flow, ts: number, capture: boolean): VerdictJson {
  const v: VerdictJson = {
    type: 'verdict',
    ts,
    verdict: 'ok',
    cause: null,
    flow: flow.shown,
    where: { netns: null, iface: null, hop: null },
    mtu: null,
    bounds: null,
    fix: null,
    evidence: [],
    notes: [],
  };
  const ev = v.evidence;
  const ptbs = ordered(flow.ptbs);
  const family = familyOf(flow.shown.src);
  let lowest: number | null = null;
  for (const p of ptbs) if (lowest === null || p.mtu < lowest) lowest = p.mtu;
  // What the kernel does with it: a PTB below its floor teaches the floor.
  const advertised = lowest === null ? null : appliedPmtu(family, lowest);
  if (lowest !== null && lowest < MIN_PMTU[family]) {
    v.notes.push(
      `a PTB advertises MTU ${lowest}, below the smallest path MTU the kernel accepts (${MIN_PMTU[family]}${family === 4 ? ', net.ipv4.route.min_pmtu' : ''}): it uses ${MIN_PMTU[family]} instead`,
    );
  }
  let hop: string | null = null;
  for (const p of ptbs) {
    if (!p.hop) continue;
    hop = p.hop;
    break;
  }
  const mssNotes = flow.kernel.length ? kernelOrAcrossMssNotes(flow) : mssRewrites(flow);
  let ignored: ReturnType<typeof notHonored>;
  /** A tunnel's bytes the verdict's fix must leave room for. */
  let overhead = 0;

  const ptbDrop = maxBy(flow.ptbDrops, LATEST);
  const l2 = maxBy(flow.l2, LONGEST);
  const decap = maxBy(flow.decapDrops, LATEST);
  const tooBig = maxBy(flow.tooBig, LATEST);
  const routes = ordered(flow.routes);
  const unlearned = routes.length ? routes.find((r) => !r.learned) : undefined;
  const learned = routes.length ? routes.find((r) => r.learned) : undefined;
  const gap = flow.lost.length ? lostBetween(flow) : undefined;

  for (let i = 0; i < ptbs.length && i < 3; i++) {
    const p = ptbs[i]!;
    ev.push(
      evidence(
        p.kind,
        p,
        p.kind === 'ptb-sent'
          ? `generated ${p.count > 1 ? `${p.count} PTBs` : 'a PTB'} to ${p.to} advertising MTU ${p.mtu}${p.mtuIface ? ` (route via ${p.mtuIface})` : ''}`
          : `PTB${p.dir ? ` ${p.dir}` : ''} from ${p.hop ?? '?'} to ${p.to} advertising MTU ${p.mtu}`,
      ),
    );
  }

  const quotedTunnel = ptbs.length ? ptbs.find((p) => p.tunnel)?.tunnel : undefined;
  if (quotedTunnel && lowest !== null) {
    v.notes.push(
      `the PTB quotes the ${ENCAP_NAMES[quotedTunnel.type]} packet (${quotedTunnel.src} -> ${quotedTunnel.dst}) that carried this flow: ` +
        `${quotedTunnel.src} learns MTU ${lowest} towards ${quotedTunnel.dst}, which leaves ${lowest - quotedTunnel.overhead} for the packets inside`,
    );
  }

  // A PTB dropped where it was made never left: the router is silent.
  const stillborn = ptbDrop && firstPtbIn(ptbs, ptbDrop.netns, 'ptb-sent');
  if (ptbDrop && stillborn) {
    v.verdict = 'silent-blackhole';
    v.cause = ptbDrop.reason === 'NETFILTER_DROP' ? 'firewall' : ptbDrop.reason.toLowerCase();
    v.where = { netns: stillborn.netns, iface: stillborn.mtuIface ?? stillborn.iface, hop: null };
    v.mtu = stillborn.mtu;
    v.bounds = { largestOk: stillborn.mtu, smallestLost: flow.tooBig.length ? smallestLen(flow.tooBig) : null };
    ev.push(evidence('drop', ptbDrop, `dropped the PTB it had just generated (${ptbDrop.reason}): it never left ${ptbDrop.netns}`));
    if (tooBig) ev.push(evidence('drop', tooBig, `dropped a ${tooBig.len}-byte DF packet from ${tooBig.src}: larger than MTU ${tooBig.mtu}${tooBig.mtuIface ? ` of ${tooBig.mtuIface}` : ''}`));
  } else if (ptbDrop) {
    v.verdict = 'ptb-dropped';
    v.cause = ptbDrop.reason === 'IP_RPFILTER' ? 'rp_filter' : ptbDrop.reason === 'NETFILTER_DROP' ? 'firewall' : ptbDrop.reason.toLowerCase();
    v.where = { netns: ptbDrop.netns, iface: ptbDrop.iface, hop: ptbDrop.hop };
    v.mtu = ptbDrop.mtu ? appliedPmtu(family, ptbDrop.mtu) : advertised;
    ev.push(evidence('drop', ptbDrop, `dropped the PTB from ${ptbDrop.hop ?? '?'} (advertising MTU ${ptbDrop.mtu}): ${ptbDrop.reason}`));
    if (tooBig) ev.push(evidence('drop', tooBig, `dropped a ${tooBig.len}-byte packet from ${tooBig.src}: larger than MTU ${tooBig.mtu}${tooBig.mtuIface ? ` of ${tooBig.mtuIface}` : ''}`));
  } else if (decap) {
    v.verdict = 'silent-blackhole';
    v.cause = 'rp_filter';
    v.where = { netns: decap.netns, iface: decap.iface, hop: null };
    let n = 0;
    for (const d of flow.decapDrops) if (d.netns === decap.netns && d.iface === decap.iface) n += d.count;
    ev.push(
      evidence(
        'drop',
        decap,
        `dropped ${n === 1 ? 'a packet' : `${n} packets`} from ${decap.src} that ${decap.iface} decapsulated: strict rp_filter (the route back to ${decap.src} is not through ${decap.iface})`,
      ),
    );
    v.notes.push(`every packet of the flow that comes through ${decap.iface} is dropped, whatever its size: what a load balancer encapsulates to this host never arrives`);
  } else if (l2) {
    v.verdict = 'local-bottleneck';
    const tunnel = l2.tunnel ? { name: ENCAP_NAMES[l2.tunnel.type], overhead: l2.tunnel.overhead, wire: l2.len + l2.tunnel.overhead } : tunnelOverhead(flow.shown, l2.len);
    v.cause = tunnel ? 'tunnel-overhead' : 'layer2';
    if (tunnel) {
      overhead = tunnel.overhead;
      v.notes.push(
        `${tunnel.name} packets of ${tunnel.wire} bytes do not fit the underlay (MTU ${l2.mtu}): the ${tunnel.name} device(s) on ${l2.netns} need an MTU of at most ${l2.mtu - tunnel.overhead}`,
      );
    }
    const netns = l2.mtuNetns ?? l2.netns;
    const iface = l2.mtuIface ?? l2.iface;
    v.where = { netns, iface, hop: null };
    v.mtu = l2.mtu;
    v.bounds = { largestOk: null, smallestLost: smallestLen(flow.l2) };
    ev.push(
      evidence(
        'drop',
        l2,
        `dropped a ${l2.len}-byte frame from ${l2.src} at layer 2: larger than MTU ${l2.mtu} of ${netns}/${iface} (${l2.reason}, no ICMP)`,
      ),
    );
    if (l2.mtuIface && (l2.mtuIface !== l2.iface || l2.mtuNetns !== l2.netns)) {
      v.notes.push(`${l2.netns}/${l2.iface} sends frames its peer ${netns}/${iface} (MTU ${l2.mtu}) cannot take`);
    }
  } else if (ptbs.length && unlearned && !learned) {
    v.verdict = 'ptb-dropped';
    v.cause = 'not-applied';
    v.where = { netns: unlearned.netns, iface: firstPtbIn(ptbs, unlearned.netns)?.iface ?? null, hop };
    v.mtu = advertised;
    v.notes.push(`the PTB reached ${unlearned.netns} but its kernel has no cached MTU for ${unlearned.dst}; no drop of it was seen`);
  } else if (ptbs.length && !learned && (ignored = notHonored(flow))) {
    const { ptb, sender } = ignored;
    v.verdict = 'ptb-not-honored';
    v.where = { netns: ptb.netns, iface: ptb.mtuIface ?? ptb.iface, hop: ptb.kind === 'ptb' ? ptb.hop : null };
    v.mtu = advertised;
    v.bounds = { largestOk: null, smallestLost: ignored.smallest };
    const span = `over ${(ignored.spanMs / 1000).toFixed(1)} s, ${ignored.late} of them ${HEEDLESS_MS} ms or more after the first PTB`;
    ev.push(
      evidence(
        ignored.how === 'dropped' ? 'drop' : 'retransmit',
        ignored.last,
        ignored.how === 'dropped'
          ? `${sender} kept sending: ${ignored.count} packets of up to ${ignored.largest} bytes dropped here ${span}`
          : `${sender} kept sending: ${ignored.count} retransmissions of up to ${ignored.largest} bytes after the PTB ${span} (at ${timingText(ignored.offsets)}: the RTO backing off)`,
      ),
    );
    const whose = ptb.kind === 'ptb-sent' ? `${ptb.netns}'s PTBs` : `the PTB${ignored.ptbs === 1 ? '' : 's'} from ${ptb.hop ?? 'a router'} (seen at ${at(ptb)})`;
    v.notes.push(
      `${sender} never sent smaller after ${whose} advertising MTU ${ptb.mtu}: they are lost on the way ` +
        `(an ECMP or anycast load balancer in front of ${sender} handing ICMP to another server is the classic cause, RFC 7690; a firewall that drops ICMP, or rp_filter on ${sender}'s host, are others) or ${sender} ignores them`,
    );
  } else if (ptbs.length) {
    v.verdict = 'ptb-honored';
    const gen = ptbs.find((p) => p.kind === 'ptb-sent') ?? ptbs.find((p) => p.dir === 'egress') ?? ptbs[0]!;
    v.where = { netns: gen.netns, iface: gen.mtuIface ?? gen.iface, hop };
    v.mtu = advertised;
    if (learned?.fromCapture) v.notes.push(`the sender adapted: after the PTB it sent ${learned.dst} no more than ${learned.mtu} bytes (seen at ${learned.netns})`);
    else if (learned) v.notes.push(`the sender's kernel (${learned.netns}) cached path MTU ${learned.mtu} for ${learned.dst}`);
    else if (capture) v.notes.push('the sender sent nothing larger after it here; whether it resent smaller the capture does not show');
    else if (!ptbs.some((p) => p.kind === 'ptb' && p.dir === 'ingress')) v.notes.push('did not see the PTB arrive at the sender (its interface is not watched)');
  } else if (tooBig) {
    v.verdict = 'silent-blackhole';
    v.cause = 'no-ptb';
    v.where = { netns: tooBig.mtuNetns ?? tooBig.netns, iface: tooBig.mtuIface ?? tooBig.iface, hop: null };
    v.mtu = tooBig.mtu;
    v.bounds = { largestOk: tooBig.mtu, smallestLost: smallestLen(flow.tooBig) };
    ev.push(evidence('drop', tooBig, `dropped a ${tooBig.len}-byte DF packet from ${tooBig.src} (MTU ${tooBig.mtu}) and no PTB was seen`));
  } else if (gap?.sized) {
    const g = gap.fact;
    v.verdict = 'silent-blackhole';
    v.cause = 'no-ptb';
    v.where = { netns: g.netns, iface: g.iface, hop: null, next: { netns: g.next.netns, iface: g.next.iface } };
    v.bounds = { largestOk: g.passedLargest || null, smallestLost: g.smallest };
    ev.push(evidence('lost', g, lostText(g, true)));
    v.notes.push(
      `lost between the capture points ${at(g)} and ${at(g.next)}: a router or bridge port between them drops packets of ${g.smallest} bytes and more and sends no PTB (none seen)`,
    );
  } else {
    const hole = blackhole(flow);
    if (hole && !(gap && gap.fact.src === hole.at.src && gap.fact.passedLargest >= hole.smallestLost)) {
      v.verdict = 'silent-blackhole';
      v.cause = 'no-ptb';
      v.where = { netns: hole.at.netns, iface: hole.at.iface, hop: null };
      v.bounds = { largestOk: hole.largestOk, smallestLost: hole.smallestLost };
      ev.push(
        evidence(
          'retransmit',
          hole.at,
          `${hole.count} retransmissions of segments from ${hole.smallestLost} bytes by ${hole.at.src}${hole.timeouts > 0 ? `, ${hole.timeouts} timeouts in a row (the RTO backing off)` : ''}` +
            `${hole.offsets.length > 1 ? ` at ${timingText(hole.offsets)} from the first` : ''}; no PTB seen` +
            `${hole.fellBackTo ? `; then it resent the data in ${hole.fellBackTo}-byte packets (its black-hole detection falling back)` : ''}`,
        ),
      );
      v.notes.push('the hop that drops them is not watched: the bounds come from what got through and what was retransmitted');
    } else {
      const tunneled = tunnelMss(flow.syns);
      const mss = tunneled ? undefined : (mssTooBig(flow) ?? kernelMssTooBig(flow));
      if (tunneled) {
        const s = tunneled.at;
        v.verdict = 'mss-exceeds-path';
        v.cause = 'encap-overhead';
        v.where = { netns: s.netns, iface: s.iface, hop: null };
        v.mtu = s.ifMtu;
        overhead = s.tunnel!.overhead;
        ev.push(evidence('syn', s, `${s.synAck ? 'SYN-ACK' : 'SYN'} from ${s.src} inside ${tunnelText(s.tunnel!)} advertises MSS ${s.mss}`));
        v.notes.push(tunnelMssNote(tunneled));
      } else if (mss) {
        v.verdict = 'mss-exceeds-path';
        v.where = { netns: mss.netns, iface: mss.iface, hop: null };
        v.mtu = mss.ifMtu;
        ev.push(evidence('syn', mss, `${mss.synAck ? 'SYN-ACK' : 'SYN'} from ${mss.src} advertises MSS ${mss.mss} (packets of ${mss.mss + headers(mss)}) across MTU ${mss.ifMtu}`));
      }
    }
  }

  // Between two capture points, for a verdict of its own cause (a PTB's): the place; else plain loss, no MTU in it.
  if (gap && !v.where.next && ev.length < MAX_EVIDENCE) ev.push(evidence('lost', gap.fact, lostText(gap.fact, gap.sized)));

  const syns = ordered(flow.syns);
  if (!ev.length) {
    // Most verdicts' evidence is a SYN or two alone: a list made at its size, not grown and copied.
    if (syns.length === 1) v.evidence = [synEvidence(syns[0]!)];
    else if (syns.length > 1) v.evidence = [synEvidence(syns[0]!), synEvidence(syns[1]!)];
  } else {
    for (let i = 0; i < syns.length && i < 2; i++) {
      if (ev.length < MAX_EVIDENCE) ev.push(synEvidence(syns[i]!));
    }
    // A copy of just the size it is (the pushed-to list has room for 17).
    v.evidence = ev.slice(0, MAX_EVIDENCE);
  }
  for (const note of mssNotes) v.notes.push(note);
  if (v.evidence.length > 1) v.evidence.sort(byTimeThenWhat);
  v.fix = fixFor(v, overhead, capture);
  return v;
}

/** Lost packets that are a black hole's pattern: two or more, and everything that got through was smaller than anything lost. */
function sizeDependent(g: LostFact): boolean {
  return g.count >= 2 && g.passedLargest < g.smallest;
}

/** The flow's account of packets lost between two capture points that says the most: size-dependent first, then the most packets. */
function lostBetween(flow: Flow): { fact: LostFact; sized: boolean } {
  const fact = maxBy(flow.lost, (g) => (sizeDependent(g) ? 2 ** 32 : 0) + g.count)!;
  return { fact, sized: sizeDependent(fact) };
}

function lostText(g: LostFact, sized: boolean): string {
  const sizes = g.smallest === g.largest ? `${g.smallest}` : `${g.smallest}-${g.largest}`;
  const what = `${g.count === 1 ? 'a packet' : `${g.count} packets`} of ${sizes} bytes${g.df === g.count ? ' (DF)' : ''} from ${g.src} seen at ${at(g)} never reached ${at(g.next)}`;
  if (!sized && g.passedLargest >= g.smallest) return `${what}, while packets as large (up to ${g.passedLargest} bytes) did: plain loss, not an MTU problem`;
  return g.passed ? `${what}, while ${g.passed} of up to ${g.passedLargest} bytes did` : what;
}

/**
 * The first PTB seen in a namespace (of a kind, when given). A loop, not a
 * closure: one capturing judge()'s variables would make judge() allocate
 * their context on every call, most of which never get here.
 */
function firstPtbIn(ptbs: readonly PtbFact[], netns: string, kind?: PtbFact['kind']): PtbFact | undefined {
  for (let i = 0; i < ptbs.length; i++) {
    const p = ptbs[i]!;
    if (p.netns === netns && (kind === undefined || p.kind === kind)) return p;
  }
  return undefined;
}

function byTimeThenWhat(a: EvidenceJson, b: EvidenceJson): number {
  return a.ts - b.ts || (a.what < b.what ? -1 : a.what > b.what ? 1 : 0);
}

/** The smallest len of some drops (at least one). */
function smallestLen(drops: readonly DropFact[]): number {
  let min = Infinity;
  for (const d of drops) min = Math.min(min, d.len);
  return min;
}

/**
 * A UDP flow that is a tunnel by its port (a drop seen from outside, or from
 * before events carried `encap`): its overhead over an IPv4 underlay, as far
 * as the flow says (len is the whole packet).
 */
function tunnelOverhead(f: FlowJson, len: number): { name: string; overhead: number; wire: number } | undefined {
  const family = familyOf(f.src);
  const type = tunnelOfFlow(f.proto, family, f.sport, f.dport);
  return type ? { name: ENCAP_NAMES[type], overhead: encapOverhead(type, family), wire: len } : undefined;
}

function headers(s: SynFact): number {
  return TCP_IP_HEADERS[s.family];
}

/**
 * A SYN (or SYN-ACK) whose MSS, as the other end received it (the last hook
 * it was seen at, after any rewriting), makes the segments coming back larger
 * than an interface on the path (the smallest one the SYN crossed).
 * Returns the hook with that smallest MTU.
 */
function mssTooBig(flow: Flow): SynFact | undefined {
  const syns = flow.syns;
  if (!syns.length) return undefined;
  let worst: { at: SynFact; excess: number } | undefined;
  for (let d = 0; d < 2; d++) {
    const synAck = d === 1;
    // maxBy(the SYNs of this direction with an MSS, latest) and maxBy(those with an MTU, narrowest), in one pass.
    let received: SynFact | undefined;
    let narrowest: SynFact | undefined;
    for (const s of syns) {
      if (s.synAck !== synAck || !(s.mss > 0)) continue;
      if (!received || beats(s, received, LATEST(s) - LATEST(received))) received = s;
      if (s.ifMtu > 0 && (!narrowest || beats(s, narrowest, NARROWEST(s) - NARROWEST(narrowest)))) narrowest = s;
    }
    if (!received || !narrowest) continue;
    const excess = received.mss + headers(received) - narrowest.ifMtu;
    if (excess > 0 && (!worst || excess > worst.excess)) worst = { at: { ...narrowest, mss: received.mss }, excess };
  }
  return worst?.at;
}

/**
 * What each end advertised and what the other received: "sent X, received Y"
 * when a hop rewrote it (the first and last hook a SYN was seen at differ).
 * Said once both directions' SYNs were seen, so the note does not churn.
 */
function mssRewrites(flow: Flow): readonly string[] {
  let syns = 0;
  let synAcks = 0;
  for (const s of flow.syns) if (s.mss > 0) s.synAck ? synAcks++ : syns++;
  if (!syns || !synAcks) return NO_NOTES;
  const all = ordered(flow.syns);
  const byDir = [false, true].map((synAck) => all.filter((s) => s.synAck === synAck && s.mss > 0));
  if (byDir.some((seen) => seen.length === 0)) return [];
  return byDir.map((seen) => {
    const first = seen[0]!;
    const last = seen[seen.length - 1]!;
    if (first.mss !== last.mss) {
      return `MSS rewritten on the path: ${first.src} sent ${first.mss} (seen at ${at(first)}), ${last.dst} received ${last.mss} (seen at ${at(last)})`;
    }
    return `MSS: ${first.src} sent ${first.mss}${seen.length > 1 ? `, ${last.dst} received ${last.mss}` : ''}`;
  });
}

/** The sender and receiver of a SYN (synAck false) or SYN-ACK, from the state's initiator. */
function synEnds(k: KernelFact, synAck: boolean): { from: string; to: string } | undefined {
  if (!k.state.initiator) return undefined;
  const initiator = k.state.initiator === 'src' ? k.src : k.dst;
  const responder = k.state.initiator === 'src' ? k.dst : k.src;
  return synAck ? { from: responder, to: initiator } : { from: initiator, to: responder };
}

/**
 * What the kernel saw of each end's MSS, per namespace: "sent X, received Y"
 * when a hop there rewrote it (first and last hook differ).
 */
function kernelMssNotes(flow: Flow): string[] {
  const rewritten: string[] = [];
  const plain = new Set<string>();
  const rewrittenDirs = new Set<boolean>();
  for (const k of ordered(flow.kernel)) {
    for (let d = 0; d < 2; d++) {
      const synAck = d === 1;
      const m: MssSeenJson | undefined = synAck ? k.state.synAck : k.state.syn;
      const ends = synEnds(k, synAck);
      if (!m || !ends || !m.first) continue;
      if (m.first !== m.last) {
        rewritten.push(`MSS rewritten on the path: ${ends.from} sent ${m.first} (seen at ${k.netns}/${m.firstIface}), ${ends.to} received ${m.last} (seen at ${k.netns}/${m.lastIface})`);
        rewrittenDirs.add(synAck);
      } else {
        plain.add(`${synAck}|MSS: ${ends.from} sent ${m.first}`);
      }
    }
  }
  const rest = [...plain].filter((p) => !rewrittenDirs.has(p.startsWith('true|'))).map((p) => p.slice(p.indexOf('|') + 1));
  return [...rewritten, ...rest];
}

/**
 * The kernel's per-namespace notes, unless the SYNs themselves show a rewrite
 * between namespaces the kernel's states cannot (each knows its own hooks):
 * two capture points of analyze, one at each end of a clamping router.
 */
function kernelOrAcrossMssNotes(flow: Flow): readonly string[] {
  const notes = kernelMssNotes(flow);
  if (notes.some((n) => n.startsWith('MSS rewritten')) || flow.syns.length < 2) return notes;
  for (let d = 0; d < 2; d++) {
    let mss = 0;
    for (const syn of flow.syns) {
      if (syn.synAck !== (d === 1) || !(syn.mss > 0)) continue;
      if (mss && syn.mss !== mss) return mssRewrites(flow);
      mss = syn.mss;
    }
  }
  return notes;
}

/**
 * As mssTooBig, from the kernel's states: an MSS is only ever lowered on the
 * way, so the smallest one any namespace saw last is what the other end
 * received; it is held against the smallest hook MTU the flow crossed anywhere.
 */
function kernelMssTooBig(flow: Flow): SynFact | undefined {
  if (!flow.kernel.length) return undefined;
  const states = ordered(flow.kernel);
  const narrowest = maxBy(
    states.filter((k) => k.state.minMtu),
    NARROWEST_STATE,
  );
  if (!narrowest) return undefined;
  const min = narrowest.state.minMtu!;
  let worst: { at: SynFact; excess: number } | undefined;
  for (let d = 0; d < 2; d++) {
    const synAck = d === 1;
    let received: { mss: number; ends: { from: string; to: string } } | undefined;
    for (const k of states) {
      const m = synAck ? k.state.synAck : k.state.syn;
      const ends = synEnds(k, synAck);
      if (m?.last && ends && (!received || m.last < received.mss)) received = { mss: m.last, ends };
    }
    if (!received) continue;
    const family = familyOf(received.ends.from);
    const excess = received.mss + TCP_IP_HEADERS[family] - min.mtu;
    if (excess > 0 && (!worst || excess > worst.excess)) {
      const { from, to } = received.ends;
      worst = { at: { ts: narrowest.ts, netns: narrowest.netns, iface: min.iface, dir: null, src: from, dst: to, mss: received.mss, synAck, ifMtu: min.mtu, family }, excess };
    }
  }
  return worst?.at;
}

/**
 * Whether a too-big drop came HEEDLESS_MS or more into a run of PTBs that the
 * namespace dropping it generated for packets this size (and the run is still
 * going: its latest PTB is recent).
 */
function unheededDrop(flow: Flow, drop: DropFact): boolean {
  for (const p of flow.ptbs) {
    if (p.kind !== 'ptb-sent' || p.netns !== drop.netns || drop.len <= p.mtu) continue;
    if (drop.ts - p.ts < EPISODE_GAP_MS && drop.ts - p.episodeStart >= HEEDLESS_MS) return true;
  }
  return false;
}

/** What a sender kept sending after PTBs told it to send smaller: the evidence of ptb-not-honored. */
interface Unheeded {
  /** The PTB the verdict is placed at: this host's own (ptb-sent), else the latest one seen. */
  ptb: PtbFact;
  /** How many PTBs it got (this host's, or those seen where `ptb` was). */
  ptbs: number;
  sender: string;
  /** Dropped here (this host routed them: the kernel's PKT_TOO_BIG), or seen retransmitted (a capture, a watched sender). */
  how: 'dropped' | 'retransmitted';
  count: number;
  /** Of those, how many came HEEDLESS_MS or more into the run of PTBs. */
  late: number;
  largest: number;
  smallest: number;
  /** From the first PTB to the last too-big packet. */
  spanMs: number;
  last: Fact;
  /** When each retransmission came, from the first PTB (ms), when they are the evidence. */
  offsets: number[];
}

/**
 * PTBs a sender never acted on: it kept sending the same too-big packets.
 * Seen where this host generates the PTBs and drops the packets (seed 003's
 * node, behind an anycast front end), or, where a PTB is seen going to the
 * sender (a capture), as its retransmissions at the old size.
 */
function notHonored(flow: Flow): Unheeded | undefined {
  return droppedAfterOwnPtbs(flow) ?? retransmittedAfterPtbs(flow);
}

function droppedAfterOwnPtbs(flow: Flow): Unheeded | undefined {
  let drop: DropFact | undefined;
  for (const d of flow.tooBig) if (d.unheeded > 0 && (!drop || d.unheeded > drop.unheeded || (d.unheeded === drop.unheeded && d.ts > drop.ts))) drop = d;
  if (!drop) return undefined;
  let sent: PtbFact | undefined;
  let ptbs = 0;
  let first = Infinity;
  for (const p of flow.ptbs) {
    if (p.kind !== 'ptb-sent' || p.netns !== drop.netns) continue;
    ptbs += p.count;
    first = Math.min(first, p.episodeStart);
    if (!sent || p.ts > sent.ts) sent = p;
  }
  if (!sent) return undefined;
  let count = 0;
  let late = 0;
  let largest = 0;
  let last: DropFact = drop;
  for (const d of flow.tooBig) {
    if (d.netns !== drop.netns) continue;
    count += d.count;
    late += d.unheeded;
    largest = Math.max(largest, d.len);
    if (d.ts > last.ts) last = d;
  }
  return { ptb: sent, ptbs, sender: drop.src, how: 'dropped', count, late, largest, smallest: smallestLen(flow.tooBig), spanMs: last.ts - first, last, offsets: [] };
}

function retransmittedAfterPtbs(flow: Flow): Unheeded | undefined {
  if (!flow.retransmits.length) return undefined;
  let best: Unheeded | undefined;
  for (const p of flow.ptbs) {
    const late: RetransmitFact[] = [];
    let count = 0;
    for (const r of flow.retransmits) {
      if (r.src !== p.to || r.len <= p.mtu || r.ts < p.episodeStart) continue;
      count++;
      if (r.ts - p.episodeStart >= HEEDLESS_MS && r.ts - p.ts < EPISODE_GAP_MS) late.push(r);
    }
    if (!late.length || (best && late.length <= best.late)) continue;
    const rtx = ordered(late);
    let largest = 0;
    let smallest = Infinity;
    for (const r of rtx) {
      largest = Math.max(largest, r.len);
      smallest = Math.min(smallest, r.len);
    }
    const last = rtx[rtx.length - 1]!;
    best = {
      ptb: p,
      ptbs: p.count,
      sender: p.to,
      how: 'retransmitted',
      count,
      late: late.length,
      largest,
      smallest,
      spanMs: last.ts - p.episodeStart,
      last,
      offsets: rtx.map((r) => r.ts - p.episodeStart),
    };
  }
  return best;
}

/** "+0.20, +0.61, +1.42 s": when retransmissions came, from a start (the RTO backing off shows as the gaps doubling). */
function timingText(offsetsMs: readonly number[]): string {
  const shown = offsetsMs.length > 6 ? [...offsetsMs.slice(0, 5), offsetsMs[offsetsMs.length - 1]!] : offsetsMs;
  return `${shown.map((o, i) => `${i === 5 && offsetsMs.length > 6 ? '..., ' : ''}+${(o / 1000).toFixed(2)}`).join(', ')} s`;
}

/** Large segments retransmitted again and again, none of that size seen getting through. */
/** The largest IP packet of a sender's fallback after a black hole: 536-byte segments, or the 576-byte datagram. */
const FALLBACK_LEN = 616;

function blackhole(
  flow: Flow,
): { at: RetransmitFact; count: number; timeouts: number; largestOk: number | null; smallestLost: number; offsets: number[]; fellBackTo: number | null } | undefined {
  if (flow.retransmits.length < 2) return undefined;
  const rtx = ordered(flow.retransmits);
  // One timeout is a lost tail that the retransmission repairs; the same
  // segment timing out again (the RTO backing off) is what a black hole does.
  const timeouts = Math.max(...rtx.map((r) => r.timeouts ?? -1));
  if (timeouts !== -1 && timeouts < 2) return undefined;
  // A sender whose black-hole detection gave up on the size resends the segment at 536/576-byte
  // segments (DF cleared): that is no loss of its own, and says what it fell back to.
  const largest = Math.max(...rtx.map((r) => r.len));
  const lost = rtx.filter((r) => r.len > FALLBACK_LEN || largest <= FALLBACK_LEN);
  const fellBackTo = lost.length < rtx.length ? Math.max(...rtx.filter((r) => !lost.includes(r)).map((r) => r.len)) : null;
  const smallestLost = Math.min(...lost.map((r) => r.len));
  const sender = rtx[0]!.src;
  // What got through is what arrived at the destination host: the namespace
  // its own packets leave from. Arriving at a hop on the way proves nothing.
  const receiver = sender === flow.shown.src ? flow.shown.dst : flow.shown.src;
  // (Routers forward the receiver's packets too: its own host is where they were seen first.)
  const home = ordered([...flow.sizes, ...flow.syns].filter((f) => f.src === receiver && f.dir === 'egress'))[0]?.netns;
  const through = flow.sizes.filter((s) => s.src === sender && s.dir === 'ingress' && s.netns === home);
  const largestOk = through.length ? Math.max(...through.map((s) => s.len)) : null;
  if (largestOk !== null && largestOk >= smallestLost) return undefined;
  return { at: maxBy(lost, LATEST)!, count: lost.length, timeouts, largestOk, smallestLost, offsets: lost.map((r) => r.ts - lost[0]!.ts), fellBackTo };
}
