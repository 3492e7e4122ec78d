// proto/pmtu.proto, loaded at run time with protobufjs, and the conversions
// between its messages and the `live --json` objects (docs/json-contract.md).
// A JSON object that goes to protobuf and back comes out equal, key order
// included, so what a capture replays is what `live --json` printed. The
// feed can carry the same messages: encodeEvent / encodeVerdict / encodeStats.

import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

import type { CorrelatorStats } from '../correlate/correlator.js';
import { ENCAP_TYPE_NAMES, protoName, type EncapJson, type EventJson, type StreamEvent, type FlowStateJson, type InnerJson, type LinkEventJson, type MssSeenJson, type RouteEventJson } from './event.js';
import type { NetnsInfoJson, NetnsKind } from './netns.js';
import type { StatsJson, TrafficJson } from './stats.js';
import type { EvidenceJson, FlowJson, VerdictCode, VerdictJson } from './verdict.js';
import { PmtuError } from '../errors.js';

/** The protobuf package: the schema's major version. */
export const SCHEMA = 'pmtu.v1';

/** Where the .proto is, from src/contract or dist/contract alike. */
export const PROTO_PATH = fileURLToPath(new URL('../../proto/pmtu.proto', import.meta.url));

export interface Types {
  Record: protobuf.Type;
  Event: protobuf.Type;
  Verdict: protobuf.Type;
  Stats: protobuf.Type;
  Header: protobuf.Type;
  Snapshot: protobuf.Type;
}

let loaded: Types | undefined;

/** The message types, loaded once. */
export function types(): Types {
  if (loaded) return loaded;
  let root: protobuf.Root;
  try {
    root = protobuf.loadSync(PROTO_PATH);
  } catch (e) {
    throw new PmtuError('PMTU_ERR_CAPTURE', `cannot load the schema ${PROTO_PATH}: ${(e as Error).message.split('\n')[0]}`, 'reinstall pmtu-watch (the package ships proto/)');
  }
  const t = (name: string) => root.lookupType(`${SCHEMA}.${name}`);
  loaded = { Record: t('Record'), Event: t('Event'), Verdict: t('Verdict'), Stats: t('Stats'), Header: t('Header'), Snapshot: t('Snapshot') };
  return loaded;
}

// ---------------------------------------------------------------------------
// Plain shapes of the messages (what protobufjs encodes and decodes; decoded
// messages also answer `!= null` for the presence of optional fields).

type Num = number | { toNumber(): number };

export interface FlowMsg {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  len?: number | null;
}

export interface EventMsg {
  kind: number;
  ts: number;
  netns: string;
  iface?: string;
  dir?: number;
  src?: string | null;
  dst?: string | null;
  sport?: number | null;
  dport?: number | null;
  proto?: number | null;
  mtu?: number | null;
  len?: number | null;
  mss?: number | null;
  reason?: string | null;
  mtuIface?: string | null;
  mtuNetns?: string | null;
  vlan?: number | null;
  inner?: FlowMsg | null;
  flags?: number[];
  expected?: number | null;
  learned?: boolean | null;
  snap?: Uint8Array;
  timeouts?: number | null;
  flow?: FlowStateMsg | null;
  netnsInfo?: NetnsInfoMsg | null;
  changes?: string[];
  master?: string | null;
  up?: boolean | null;
  wasMtu?: number | null;
  wasMaster?: string | null;
  encap?: EncapMsg | null;
  routeFrom?: string | null;
  lost?: LostMsg | null;
}

export interface LostMsg {
  netns: string;
  iface: string;
  count: number;
  smallest: number;
  largest: number;
  df: number;
  passed: number;
  passedLargest: number;
}

export interface EncapMsg {
  type: number;
  src: string;
  dst: string;
  overhead: number;
  id?: number | null;
  quoted?: boolean | null;
  sport?: number | null;
  dport?: number | null;
}

export interface NetnsInfoMsg {
  kind: string;
  inode: number;
  name?: string | null;
  id?: string | null;
  pod?: string | null;
  namespace?: string | null;
  uid?: string | null;
  pid?: number | null;
  comm?: string | null;
}

const NETNS_INFO_KEYS = ['name', 'id', 'pod', 'namespace', 'uid', 'pid', 'comm'] as const;

function netnsInfoMsg(i: NetnsInfoJson): NetnsInfoMsg {
  const m: NetnsInfoMsg = { kind: i.kind, inode: i.inode };
  for (const k of NETNS_INFO_KEYS) if (i[k] !== undefined) (m as unknown as Record<string, unknown>)[k] = i[k];
  return m;
}

function netnsInfoFromMsg(m: NetnsInfoMsg): NetnsInfoJson {
  const i: NetnsInfoJson = { kind: m.kind as NetnsKind, inode: m.inode };
  for (const k of NETNS_INFO_KEYS) if (has(m[k])) (i as unknown as Record<string, unknown>)[k] = m[k];
  return i;
}

export interface MssSeenMsg {
  first: number;
  firstIface: string;
  last: number;
  lastIface: string;
}

export interface FlowStateMsg {
  known: boolean;
  since?: number | null;
  initiator?: number;
  syn?: MssSeenMsg | null;
  synAck?: MssSeenMsg | null;
  largestFwd?: number | null;
  largestRev?: number | null;
  minMtu?: number | null;
  minMtuIface?: string | null;
}

interface HookTrafficMsg {
  netns: string;
  iface: string;
  flows?: Num;
  syns?: Num;
  synAcks?: Num;
  ptbs?: Num;
}

interface TrafficMsg {
  flows?: Num;
  syns?: Num;
  synAcks?: Num;
  ptbs?: Num;
  byHook?: HookTrafficMsg[];
}

export interface VerdictMsg {
  ts: number;
  verdict: number;
  cause?: string | null;
  flow?: FlowMsg | null;
  where?: { netns?: string | null; iface?: string | null; hop?: string | null; next?: { netns: string; iface: string } | null } | null;
  mtu?: number | null;
  bounds?: { largestOk?: number | null; smallestLost?: number | null } | null;
  fix?: string | null;
  evidence?: EvidenceJson[];
  notes?: string[];
}

export interface StatsMsg {
  elapsedS: number;
  interfaces: number;
  events?: { name: string; count: Num }[];
  losses?: Record<string, Num> | null;
  flows?: Record<string, Num> | null;
  time?: number;
  traffic?: TrafficMsg | null;
}

// ---------------------------------------------------------------------------
// Names ↔ enum values

const KINDS = ['', 'ptb', 'ptb-sent', 'drop', 'syn', 'retransmit', 'size', 'route', 'link', 'lost'] as const;
const DIRS = [null, 'ingress', 'egress'] as const;
const FLAGS = ['', 'df', 'gso', 'icmp-error', 'oversize', 'synack', 'inner-truncated', 'local', 'quote-mismatch'] as const;
const INITIATORS = [null, 'src', 'dst'] as const;
const ENCAP_TYPES = ['', ...ENCAP_TYPE_NAMES] as const;
const VERDICTS = ['', 'ok', 'ptb-honored', 'ptb-dropped', 'local-bottleneck', 'silent-blackhole', 'mss-exceeds-path', 'ptb-not-honored'] as const;
const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };

/** A message this version cannot turn back into its JSON line (an enum value from a newer pmtu.v1). */
export class UnknownValue extends Error {}

function indexOf(table: readonly (string | null)[], name: string | null, what: string): number {
  const i = table.indexOf(name);
  if (i <= 0 && name !== null) throw new PmtuError('PMTU_ERR_INVALID', `no ${what} "${name}" in ${SCHEMA}`);
  return i;
}

function nameOf<T>(table: readonly T[], value: number | undefined, what: string): T {
  const v = value ?? 0;
  if (v <= 0 || v >= table.length) throw new UnknownValue(`${what} ${v}`);
  return table[v]!;
}

function protoNumber(p: string | number): number {
  if (typeof p === 'number') return p;
  const n = PROTO_NUMBERS[p];
  if (n === undefined) throw new PmtuError('PMTU_ERR_INVALID', `unknown protocol name "${p}"`);
  return n;
}

function num(v: Num | undefined | null): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const has = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

// ---------------------------------------------------------------------------
// Events

function flowMsg(f: Pick<InnerJson, 'src' | 'dst' | 'sport' | 'dport' | 'proto'> & { len?: number }): FlowMsg {
  const m: FlowMsg = { src: f.src, dst: f.dst, sport: f.sport, dport: f.dport, proto: protoNumber(f.proto) };
  if (f.len !== undefined) m.len = f.len;
  return m;
}

/** An event line (and the packet snapshot JSON leaves out) as an Event message. */
export function eventMsg(ev: StreamEvent, snap?: Uint8Array): EventMsg {
  const m: EventMsg = { kind: indexOf(KINDS, ev.kind, 'event kind'), ts: ev.ts, netns: ev.netns };
  if (ev.kind === 'route') {
    m.dst = ev.dst;
    m.inner = flowMsg(ev.inner);
    m.mtu = ev.mtu;
    m.expected = ev.expected;
    m.learned = ev.learned;
    if (ev.from) m.routeFrom = ev.from;
    return m;
  }
  if (ev.kind === 'link') {
    m.iface = ev.iface;
    m.changes = [...ev.changes];
    m.mtu = ev.mtu;
    m.master = ev.master;
    m.up = ev.up;
    if (ev.was?.mtu !== undefined) m.wasMtu = ev.was.mtu;
    if (ev.was?.master !== undefined) m.wasMaster = ev.was.master;
    return m;
  }
  m.iface = ev.iface;
  m.dir = indexOf(DIRS, ev.dir, 'direction');
  if (ev.src !== undefined) m.src = ev.src;
  if (ev.dst !== undefined) m.dst = ev.dst;
  if (ev.sport !== undefined) m.sport = ev.sport;
  if (ev.dport !== undefined) m.dport = ev.dport;
  if (ev.proto !== undefined) m.proto = protoNumber(ev.proto);
  if (ev.mtu !== undefined) m.mtu = ev.mtu;
  if (ev.len !== undefined) m.len = ev.len;
  if (ev.mss !== undefined) m.mss = ev.mss;
  if (ev.reason !== undefined) m.reason = ev.reason;
  if (ev.mtuIface !== undefined) m.mtuIface = ev.mtuIface;
  if (ev.mtuNetns !== undefined) m.mtuNetns = ev.mtuNetns;
  if (ev.vlan !== undefined) m.vlan = ev.vlan;
  if (ev.inner) m.inner = flowMsg(ev.inner);
  if (ev.encap) m.encap = encapMsg(ev.encap);
  if (ev.lost) m.lost = { ...ev.lost };
  m.flags = ev.flags.map((f) => indexOf(FLAGS, f, 'flag'));
  if (snap && snap.length) m.snap = snap;
  if (ev.timeouts !== undefined) m.timeouts = ev.timeouts;
  if (ev.flow) m.flow = flowStateMsg(ev.flow);
  if (ev.netnsInfo) m.netnsInfo = netnsInfoMsg(ev.netnsInfo);
  return m;
}

function encapMsg(e: EncapJson): EncapMsg {
  const m: EncapMsg = { type: indexOf(ENCAP_TYPES, e.type, 'tunnel type'), src: e.src, dst: e.dst, overhead: e.overhead };
  if (e.id !== undefined) m.id = e.id;
  if (e.quoted) m.quoted = true;
  if (e.sport !== undefined) m.sport = e.sport;
  if (e.dport !== undefined) m.dport = e.dport;
  return m;
}

function encapFromMsg(m: EncapMsg): EncapJson {
  const e: EncapJson = { type: nameOf(ENCAP_TYPES, m.type, 'tunnel type') as EncapJson['type'], src: m.src, dst: m.dst, overhead: m.overhead };
  if (has(m.id)) e.id = m.id;
  if (has(m.sport)) e.sport = m.sport;
  if (has(m.dport)) e.dport = m.dport;
  if (m.quoted) e.quoted = true;
  return e;
}

function flowStateMsg(f: FlowStateJson): FlowStateMsg {
  const m: FlowStateMsg = { known: f.known };
  if (f.since !== undefined) m.since = f.since;
  if (f.initiator !== undefined) m.initiator = indexOf(INITIATORS, f.initiator, 'initiator');
  if (f.syn) m.syn = { ...f.syn };
  if (f.synAck) m.synAck = { ...f.synAck };
  if (f.largest) {
    m.largestFwd = f.largest.fwd;
    m.largestRev = f.largest.rev;
  }
  if (f.minMtu) {
    m.minMtu = f.minMtu.mtu;
    m.minMtuIface = f.minMtu.iface;
  }
  return m;
}

function mssSeen(m: MssSeenMsg): MssSeenJson {
  return { first: m.first, firstIface: m.firstIface, last: m.last, lastIface: m.lastIface };
}

/** The JSON `flow` again, key for key: `initiator` is present whenever `since` is (both come with a known flow). */
function flowStateFromMsg(m: FlowStateMsg): FlowStateJson {
  if (!m.known) return { known: false };
  const f: FlowStateJson = { known: true };
  if (has(m.since)) {
    f.since = m.since;
    f.initiator = INITIATORS[m.initiator ?? 0] ?? null;
  }
  if (has(m.syn)) f.syn = mssSeen(m.syn);
  if (has(m.synAck)) f.synAck = mssSeen(m.synAck);
  if (has(m.largestFwd)) f.largest = { fwd: m.largestFwd, rev: m.largestRev ?? 0 };
  if (has(m.minMtu)) f.minMtu = { mtu: m.minMtu, iface: m.minMtuIface ?? '' };
  return f;
}

/**
 * The event line again, key for key, and its packet snapshot (empty when
 * none). Throws UnknownValue for a kind or flag this version does not know.
 */
export function eventFromMsg(m: EventMsg): { event: StreamEvent; snap: Buffer } {
  const kind = nameOf(KINDS, m.kind, 'event kind');
  const snap = m.snap && m.snap.length ? Buffer.from(m.snap.buffer, m.snap.byteOffset, m.snap.byteLength) : Buffer.alloc(0);
  if (kind === 'route') {
    const i = m.inner;
    const route: RouteEventJson = {
      type: 'event',
      kind: 'route',
      ts: m.ts,
      netns: m.netns,
      dst: m.dst ?? '',
      inner: { src: i?.src ?? '', dst: i?.dst ?? '', sport: i?.sport ?? 0, dport: i?.dport ?? 0, proto: protoName(i?.proto ?? 0) },
      mtu: m.mtu ?? 0,
      expected: m.expected ?? 0,
      learned: m.learned ?? false,
    };
    if (m.routeFrom === 'capture') route.from = 'capture';
    return { event: route, snap };
  }
  if (kind === 'link') {
    const link: LinkEventJson = { type: 'event', kind: 'link', ts: m.ts, netns: m.netns, iface: m.iface ?? '', changes: [...(m.changes ?? [])], mtu: m.mtu ?? 0, master: m.master ?? '', up: m.up ?? false };
    const was: NonNullable<LinkEventJson['was']> = {};
    if (has(m.wasMtu)) was.mtu = m.wasMtu;
    if (has(m.wasMaster)) was.master = m.wasMaster;
    if (Object.keys(was).length) link.was = was;
    return { event: link, snap };
  }
  const ev: Omit<EventJson, 'flags'> = {
    type: 'event',
    kind: kind as EventJson['kind'], // nameOf never returns the table's '' (value 0)
    ts: m.ts,
    netns: m.netns,
    iface: m.iface ?? '',
    dir: DIRS[m.dir ?? 0] ?? null,
  };
  if (has(m.src)) ev.src = m.src;
  if (has(m.dst)) ev.dst = m.dst;
  if (has(m.sport)) ev.sport = m.sport;
  if (has(m.dport)) ev.dport = m.dport;
  if (has(m.proto)) ev.proto = protoName(m.proto);
  if (has(m.mtu)) ev.mtu = m.mtu;
  if (has(m.len)) ev.len = m.len;
  if (has(m.mss)) ev.mss = m.mss;
  if (has(m.timeouts)) ev.timeouts = m.timeouts;
  if (has(m.reason)) ev.reason = m.reason;
  if (has(m.mtuIface)) ev.mtuIface = m.mtuIface;
  if (has(m.mtuNetns)) ev.mtuNetns = m.mtuNetns;
  if (has(m.vlan)) ev.vlan = m.vlan;
  if (has(m.inner)) {
    const i = m.inner;
    ev.inner = { src: i.src, dst: i.dst, sport: i.sport, dport: i.dport, proto: protoName(i.proto), len: i.len ?? 0 };
  }
  if (has(m.encap)) ev.encap = encapFromMsg(m.encap);
  if (has(m.lost)) {
    const l = m.lost;
    ev.lost = { netns: l.netns, iface: l.iface, count: l.count, smallest: l.smallest, largest: l.largest, df: l.df, passed: l.passed, passedLargest: l.passedLargest };
  }
  if (has(m.flow)) ev.flow = flowStateFromMsg(m.flow);
  if (has(m.netnsInfo)) ev.netnsInfo = netnsInfoFromMsg(m.netnsInfo);
  const flags = (m.flags ?? []).map((f) => nameOf(FLAGS, f, 'flag'));
  return { event: { ...ev, flags }, snap };
}

// ---------------------------------------------------------------------------
// Verdicts

export function verdictMsg(v: VerdictJson): VerdictMsg {
  const m: VerdictMsg = { ts: v.ts, verdict: indexOf(VERDICTS, v.verdict, 'verdict') };
  if (v.cause !== null) m.cause = v.cause;
  m.flow = flowMsg(v.flow);
  const where: NonNullable<VerdictMsg['where']> = {};
  if (v.where.netns !== null) where.netns = v.where.netns;
  if (v.where.iface !== null) where.iface = v.where.iface;
  if (v.where.hop !== null) where.hop = v.where.hop;
  if (v.where.next) where.next = { netns: v.where.next.netns, iface: v.where.next.iface };
  m.where = where;
  if (v.mtu !== null) m.mtu = v.mtu;
  if (v.bounds) {
    m.bounds = {};
    if (v.bounds.largestOk !== null) m.bounds.largestOk = v.bounds.largestOk;
    if (v.bounds.smallestLost !== null) m.bounds.smallestLost = v.bounds.smallestLost;
  }
  if (v.fix !== null) m.fix = v.fix;
  m.evidence = v.evidence.map((e) => ({ ts: e.ts, kind: e.kind, netns: e.netns, iface: e.iface, what: e.what }));
  m.notes = [...v.notes];
  return m;
}

function whereFromMsg(w: VerdictMsg['where']): VerdictJson['where'] {
  const where: VerdictJson['where'] = { netns: w?.netns ?? null, iface: w?.iface ?? null, hop: w?.hop ?? null };
  if (has(w?.next)) where.next = { netns: w.next.netns, iface: w.next.iface };
  return where;
}

export function verdictFromMsg(m: VerdictMsg): VerdictJson {
  const f = m.flow;
  const flow: FlowJson = { src: f?.src ?? '', dst: f?.dst ?? '', sport: f?.sport ?? 0, dport: f?.dport ?? 0, proto: protoName(f?.proto ?? 0) };
  return {
    type: 'verdict',
    ts: m.ts,
    verdict: nameOf(VERDICTS, m.verdict, 'verdict') as VerdictCode,
    cause: m.cause ?? null,
    flow,
    where: whereFromMsg(m.where),
    mtu: m.mtu ?? null,
    bounds: has(m.bounds) ? { largestOk: m.bounds.largestOk ?? null, smallestLost: m.bounds.smallestLost ?? null } : null,
    fix: m.fix ?? null,
    evidence: (m.evidence ?? []).map((e) => ({ ts: e.ts, kind: e.kind, netns: e.netns, iface: e.iface, what: e.what })),
    notes: [...(m.notes ?? [])],
  };
}

// ---------------------------------------------------------------------------
// Stats

const LOSS_KEYS = ['ringbufFull', 'flowTableFull', 'queueFull', 'delivered', 'unknownRecords'] as const;
const FLOW_KEYS = ['flows', 'evicted', 'expired', 'unmatched', 'events'] as const;

/** A stats line, and when it was taken (epoch ms; not part of the JSON line). */
export function statsMsg(s: StatsJson, time: number): StatsMsg {
  return {
    elapsedS: s.elapsedS,
    interfaces: s.interfaces,
    events: Object.entries(s.events).map(([name, count]) => ({ name, count })),
    losses: Object.fromEntries(LOSS_KEYS.map((k) => [k, s.losses[k]])),
    flows: Object.fromEntries(FLOW_KEYS.map((k) => [k, s.flows[k]])),
    time,
    ...(s.traffic ? { traffic: s.traffic } : {}),
  };
}

function trafficFromMsg(m: TrafficMsg): TrafficJson {
  return {
    flows: num(m.flows),
    syns: num(m.syns),
    synAcks: num(m.synAcks),
    ptbs: num(m.ptbs),
    byHook: (m.byHook ?? []).map((h) => ({ netns: h.netns, iface: h.iface, flows: num(h.flows), syns: num(h.syns), synAcks: num(h.synAcks), ptbs: num(h.ptbs) })),
  };
}

export function statsFromMsg(m: StatsMsg): { stats: StatsJson; time: number } {
  const losses = Object.fromEntries(LOSS_KEYS.map((k) => [k, num(m.losses?.[k])])) as unknown as StatsJson['losses'];
  const flows = Object.fromEntries(FLOW_KEYS.map((k) => [k, num(m.flows?.[k])])) as unknown as CorrelatorStats;
  const events: Record<string, number> = {};
  for (const c of m.events ?? []) events[c.name] = num(c.count);
  const stats: StatsJson = { type: 'stats', elapsedS: m.elapsedS, interfaces: m.interfaces, events, losses, flows };
  if (has(m.traffic)) stats.traffic = trafficFromMsg(m.traffic);
  return { stats, time: m.time ?? 0 };
}

// ---------------------------------------------------------------------------
// Standalone messages, for the feed or anyone else.

export function encodeEvent(ev: StreamEvent, snap?: Uint8Array): Uint8Array {
  return types().Event.encode(eventMsg(ev, snap)).finish();
}

export function decodeEvent(bytes: Uint8Array): { event: StreamEvent; snap: Buffer } {
  return eventFromMsg(types().Event.decode(bytes) as unknown as EventMsg);
}

export function encodeVerdict(v: VerdictJson): Uint8Array {
  return types().Verdict.encode(verdictMsg(v)).finish();
}

export function decodeVerdict(bytes: Uint8Array): VerdictJson {
  return verdictFromMsg(types().Verdict.decode(bytes) as unknown as VerdictMsg);
}

export function encodeStats(s: StatsJson, time = Date.now()): Uint8Array {
  return types().Stats.encode(statsMsg(s, time)).finish();
}

export function decodeStats(bytes: Uint8Array): { stats: StatsJson; time: number } {
  return statsFromMsg(types().Stats.decode(bytes) as unknown as StatsMsg);
}
