// Decoder of the kernel's packed records: struct pmtu_event in bpf/events.h.
// Change RECORD_LAYOUT with that struct (its _Static_assert names this file).

import { PmtuError } from '../errors.js';
import type { Direction, Encap, EncapType, EventFlags, EventKind, Flow, FlowState, MssSeen, PmtuEvent } from './events.js';

export const RECORD_SIZE = 520;
const FLOW_SIZE = 40;

/** Byte offsets of struct pmtu_event (little-endian host order; addresses in network order). */
export const RECORD_LAYOUT = {
  kind: 0,
  dir: 1,
  flags: 2,
  icmpType: 3,
  icmpCode: 4,
  timeouts: 5,
  snapLen: 6,
  tsNs: 8,
  netns: 16,
  ifindex: 20,
  mtu: 24,
  len: 28,
  reason: 32,
  mss: 36,
  vlan: 38,
  mtuIfindex: 40,
  mtuNetns: 44,
  ifname: 48,
  mtuIfname: 64,
  outer: 80,
  inner: 120,
  state: 160,
  encap: 216,
  snap: 264,
} as const;

/** Offsets inside struct pmtu_flow_state. */
const STATE = { firstNs: 0, lastNs: 8, mssFirst: 16, mssLast: 20, mssFirstIfindex: 24, mssLastIfindex: 32, largest: 40, minMtu: 44, flags: 46, minMtuIfindex: 48 } as const;
const FS_KNOWN = 1 << 0;
const FS_SYN = 1 << 2;
const FS_SYNACK = 1 << 3;
const FS_SYN_FROM_OTHER = 1 << 4;

/** Offsets inside struct pmtu_flow. */
const FLOW = { saddr: 0, daddr: 16, sport: 32, dport: 34, proto: 36, family: 37, len: 38 } as const;
/** PMTU_SNAP_LEN */
export const SNAP_MAX = 256;

/** Offsets inside struct pmtu_encap. */
const ENCAP = { type: 0, family: 1, quoted: 2, overhead: 4, id: 8, sport: 12, dport: 14, saddr: 16, daddr: 32 } as const;
/** enum pmtu_encap_type, by value. */
export const ENCAP_TYPES: Record<number, EncapType> = { 1: 'ipip', 2: 'sit', 3: 'ip6ip6', 4: 'ip4ip6', 5: 'gre', 6: 'gretap', 7: 'vxlan', 8: 'geneve' };

const KINDS: Record<number, EventKind> = { 1: 'ptb', 2: 'ptb-sent', 3: 'drop', 4: 'syn', 5: 'retransmit', 6: 'size' };
const DIRS: Record<number, Direction> = { 0: null, 1: 'ingress', 2: 'egress' };

const F_DF = 1 << 0;
const F_GSO = 1 << 1;
const F_ICMP_ERR = 1 << 2;
const F_OVERSIZE = 1 << 3;
const F_SYNACK = 1 << 4;
const F_INNER_TRUNC = 1 << 5;
const F_LOCAL = 1 << 6;
const F_QUOTE_MISMATCH = 1 << 7;

/** What events of flows the table did not know carry: one shared, frozen object. */
export const UNKNOWN_FLOW: FlowState = Object.freeze({
  known: false,
  firstNs: 0n,
  lastNs: 0n,
  initiator: null,
  syn: null,
  synAck: null,
  largest: Object.freeze([0, 0] as const),
  minMtu: 0,
  minMtuIfindex: 0,
});

function mssSeen(v: DataView, o: number, i: 0 | 1): MssSeen {
  return {
    first: v.getUint16(o + STATE.mssFirst + 2 * i, true),
    firstIfindex: v.getUint32(o + STATE.mssFirstIfindex + 4 * i, true),
    last: v.getUint16(o + STATE.mssLast + 2 * i, true),
    lastIfindex: v.getUint32(o + STATE.mssLastIfindex + 4 * i, true),
  };
}

function flowState(buf: Buffer, v: DataView, o: number): FlowState {
  const flags = buf[o + STATE.flags]!;
  if (!(flags & FS_KNOWN)) return UNKNOWN_FLOW;
  const hasSyn = (flags & (FS_SYN | FS_SYNACK)) !== 0;
  return {
    known: true,
    firstNs: v.getBigUint64(o + STATE.firstNs, true),
    lastNs: v.getBigUint64(o + STATE.lastNs, true),
    initiator: hasSyn ? (flags & FS_SYN_FROM_OTHER ? 'dst' : 'src') : null,
    syn: flags & FS_SYN ? mssSeen(v, o, 0) : null,
    synAck: flags & FS_SYNACK ? mssSeen(v, o, 1) : null,
    largest: [v.getUint16(o + STATE.largest, true), v.getUint16(o + STATE.largest + 2, true)],
    minMtu: v.getUint16(o + STATE.minMtu, true),
    minMtuIfindex: v.getUint32(o + STATE.minMtuIfindex, true),
  };
}

// Hot path (batches of thousands of records): fixed offsets, no arrays or
// intermediate strings beyond the ones returned.

/** Interface names decoded lately: a batch names a few interfaces many times, and comparing bytes is cheaper than making a string. */
const recentNames: { bytes: Uint8Array; text: string }[] = [];
const RECENT_NAMES = 8;

function cString(buf: Buffer, start: number, max: number): string {
  let end = start;
  const limit = start + max;
  while (end < limit && buf[end] !== 0) end++;
  const n = end - start;
  if (n === 0) return '';
  next: for (const cached of recentNames) {
    if (cached.bytes.length !== n) continue;
    for (let i = 0; i < n; i++) if (cached.bytes[i] !== buf[start + i]) continue next;
    return cached.text;
  }
  const text = buf.toString('latin1', start, end);
  if (recentNames.length >= RECENT_NAMES) recentNames.shift();
  recentNames.push({ bytes: Uint8Array.from(buf.subarray(start, end)), text });
  return text;
}

// Text of every byte value, made once: Number#toString is the slowest part
// of formatting an address.
const DEC = Array.from({ length: 256 }, (_, i) => String(i));

/**
 * IPv4 text of addresses decoded lately, by the address as an int32: a flood
 * names the same few addresses over and over, and one string each is then
 * also cheap to compare (the correlator's flow key). Bounded: emptied when full.
 */
const v4Text = new Map<number, string>();
const V4_TEXTS = 4096;

function ipv4(buf: Buffer, o: number): string {
  const n = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
  let text = v4Text.get(n);
  if (text === undefined) {
    text = `${DEC[buf[o]!]}.${DEC[buf[o + 1]!]}.${DEC[buf[o + 2]!]}.${DEC[buf[o + 3]!]}`;
    if (v4Text.size >= V4_TEXTS) v4Text.clear();
    v4Text.set(n, text);
  }
  return text;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const COLON = 0x3a;
/** IPv6 text is written here, then read out as one flat string (no string per group). */
const scratch = Buffer.alloc(64);

/** RFC 5952: lowercase, no leading zeros, the first longest run (≥2) of zero groups as '::'. */
export function ipv6(buf: Buffer, o: number): string {
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never shortened
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (buf[o + 2 * i] === 0 && buf[o + 2 * i + 1] === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLen) {
        bestStart = runStart;
        bestLen = i - runStart + 1;
      }
    } else {
      runStart = -1;
    }
  }
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (bestStart === 0 && bestLen === 5 && buf[o + 10] === 0xff && buf[o + 11] === 0xff) return `::ffff:${ipv4(buf, o + 12)}`;
  const s = scratch;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s[n++] = COLON;
      s[n++] = COLON;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) s[n++] = COLON;
    const hi = buf[o + 2 * i]!;
    const lo = buf[o + 2 * i + 1]!;
    // Leading zero digits are left out.
    if (hi >= 0x10) s[n++] = HEX_DIGITS[hi >> 4]!;
    if (hi !== 0) s[n++] = HEX_DIGITS[hi & 15]!;
    if (hi !== 0 || lo >= 0x10) s[n++] = HEX_DIGITS[lo >> 4]!;
    s[n++] = HEX_DIGITS[lo & 15]!;
  }
  return s.toString('latin1', 0, n);
}

function encap(buf: Buffer, o: number): Encap | null {
  const type = ENCAP_TYPES[buf[o + ENCAP.type]!];
  const family = buf[o + ENCAP.family];
  if (type === undefined || (family !== 4 && family !== 6)) return null;
  const addr = family === 4 ? ipv4 : ipv6;
  return {
    type,
    family,
    src: addr(buf, o + ENCAP.saddr),
    dst: addr(buf, o + ENCAP.daddr),
    overhead: u16(buf, o + ENCAP.overhead),
    id: u32(buf, o + ENCAP.id),
    sport: u16(buf, o + ENCAP.sport),
    dport: u16(buf, o + ENCAP.dport),
    quoted: buf[o + ENCAP.quoted] !== 0,
  };
}

function flow(buf: Buffer, o: number): Flow | null {
  const family = buf[o + FLOW.family];
  if (family !== 4 && family !== 6) return null;
  const addr = family === 4 ? ipv4 : ipv6;
  return {
    family,
    src: addr(buf, o + FLOW.saddr),
    dst: addr(buf, o + FLOW.daddr),
    sport: u16(buf, o + FLOW.sport),
    dport: u16(buf, o + FLOW.dport),
    proto: buf[o + FLOW.proto]!,
    len: u16(buf, o + FLOW.len),
  };
}

/** One frozen flags object per flags byte, shared by every event that has it. */
export const EVENT_FLAGS: readonly Readonly<EventFlags>[] = Array.from({ length: 256 }, (_, f) =>
  Object.freeze({
    df: (f & F_DF) !== 0,
    gso: (f & F_GSO) !== 0,
    icmpError: (f & F_ICMP_ERR) !== 0,
    oversize: (f & F_OVERSIZE) !== 0,
    synAck: (f & F_SYNACK) !== 0,
    innerTruncated: (f & F_INNER_TRUNC) !== 0,
    local: (f & F_LOCAL) !== 0,
    quoteMismatch: (f & F_QUOTE_MISMATCH) !== 0,
  }),
);

function u16(buf: Buffer, o: number): number {
  return buf[o]! | (buf[o + 1]! << 8);
}

function u32(buf: Buffer, o: number): number {
  return (buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16) | (buf[o + 3]! << 24)) >>> 0;
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

const L = RECORD_LAYOUT;
/** 2^32 = 4294967 * 1000 + 296: how a 64-bit nanosecond count divides by 1000 in two 32-bit halves. */
const HI_US = 4294967;
const HI_REM = 296;

/**
 * One record as a PmtuEvent, read from the batch as its fields are asked for:
 * a flood of events most of which nobody looks at in full (a spoofed-PTB
 * flood is counted, set aside, or dropped) costs one small object each, not
 * four address strings, two flows, a BigInt and a Buffer view. Strings,
 * flows, the state and the snap are made once, on first use. It keeps its
 * batch alive: whoever keeps an event long copies what it needs.
 */
export class RecordEvent implements PmtuEvent {
  private tsMemo: bigint | undefined = undefined;
  private ifnameMemo: string | undefined = undefined;
  private mtuIfnameMemo: string | undefined = undefined;
  private outerMemo: Flow | null | undefined = undefined;
  private innerMemo: Flow | null | undefined = undefined;
  private stateMemo: FlowState | undefined = undefined;
  private encapMemo: Encap | null | undefined = undefined;
  private snapMemo: Buffer | undefined = undefined;

  constructor(
    /** The batch the record is in, and its offset there. */
    readonly buf: Buffer,
    readonly o: number,
    readonly kind: EventKind,
  ) {}

  get dir(): Direction {
    return DIRS[this.buf[this.o + L.dir]!] ?? null;
  }
  get tsNs(): bigint {
    return (this.tsMemo ??= this.buf.readBigUInt64LE(this.o + L.tsNs));
  }
  /** tsNs / 1000, rounded down, as a number: without making a BigInt (exact below 2^62 ns; past that, through one). */
  get tsUs(): number {
    const hi = u32(this.buf, this.o + L.tsNs + 4);
    if (hi >= 0x40000000) return Number(this.tsNs / 1000n);
    return hi * HI_US + Math.floor((hi * HI_REM + u32(this.buf, this.o + L.tsNs)) / 1000);
  }
  get netnsInode(): number {
    return u32(this.buf, this.o + L.netns);
  }
  get ifindex(): number {
    return u32(this.buf, this.o + L.ifindex);
  }
  get ifname(): string {
    return (this.ifnameMemo ??= cString(this.buf, this.o + L.ifname, 16));
  }
  get mtu(): number {
    return u32(this.buf, this.o + L.mtu);
  }
  get len(): number {
    return u32(this.buf, this.o + L.len);
  }
  get mss(): number {
    return u16(this.buf, this.o + L.mss);
  }
  get vlan(): number {
    return u16(this.buf, this.o + L.vlan);
  }
  get reason(): number {
    return u32(this.buf, this.o + L.reason);
  }
  get icmpType(): number {
    return this.buf[this.o + L.icmpType]!;
  }
  get icmpCode(): number {
    return this.buf[this.o + L.icmpCode]!;
  }
  get timeouts(): number {
    return this.buf[this.o + L.timeouts]!;
  }
  get mtuIfindex(): number {
    return u32(this.buf, this.o + L.mtuIfindex);
  }
  get mtuNetnsInode(): number {
    return u32(this.buf, this.o + L.mtuNetns);
  }
  get mtuIfname(): string {
    return (this.mtuIfnameMemo ??= cString(this.buf, this.o + L.mtuIfname, 16));
  }
  /** The flags byte itself (bpf/events.h enum pmtu_flags). */
  get flagBits(): number {
    return this.buf[this.o + L.flags]!;
  }
  get flags(): Readonly<EventFlags> {
    return EVENT_FLAGS[this.buf[this.o + L.flags]!]!;
  }
  /** state.known, without decoding the state. */
  get known(): boolean {
    return (this.buf[this.o + L.state + STATE.flags]! & FS_KNOWN) !== 0;
  }
  get outer(): Flow | null {
    if (this.outerMemo === undefined) this.outerMemo = flow(this.buf, this.o + L.outer);
    return this.outerMemo;
  }
  get inner(): Flow | null {
    if (this.innerMemo === undefined) this.innerMemo = flow(this.buf, this.o + L.inner);
    return this.innerMemo;
  }
  get state(): FlowState {
    return (this.stateMemo ??= flowState(this.buf, viewOf(this.buf), this.o + L.state));
  }
  /** Whether the record names a tunnel, without decoding it. */
  get encapped(): boolean {
    return this.buf[this.o + L.encap + ENCAP.type] !== 0;
  }
  get encap(): Encap | null {
    if (this.encapMemo === undefined) this.encapMemo = encap(this.buf, this.o + L.encap);
    return this.encapMemo;
  }
  get snap(): Buffer {
    return (this.snapMemo ??= this.buf.subarray(this.o + L.snap, this.o + L.snap + Math.min(u16(this.buf, this.o + L.snapLen), SNAP_MAX)));
  }
}

/** Every field of an event as a plain object (a RecordEvent's, read out in full). */
export function plainEvent(ev: PmtuEvent): PmtuEvent {
  return {
    kind: ev.kind,
    dir: ev.dir,
    tsNs: ev.tsNs,
    netnsInode: ev.netnsInode,
    ifindex: ev.ifindex,
    ifname: ev.ifname,
    mtu: ev.mtu,
    len: ev.len,
    mss: ev.mss,
    vlan: ev.vlan,
    reason: ev.reason,
    icmpType: ev.icmpType,
    icmpCode: ev.icmpCode,
    timeouts: ev.timeouts,
    mtuIfindex: ev.mtuIfindex,
    mtuNetnsInode: ev.mtuNetnsInode,
    mtuIfname: ev.mtuIfname,
    flags: ev.flags,
    outer: ev.outer,
    inner: ev.inner,
    state: ev.state,
    encap: ev.encap,
    snap: ev.snap,
  };
}

/** Decodes one record at offset o, every field at once. Returns null for a kind this version does not know. */
export function decodeRecord(buf: Buffer, o = 0): PmtuEvent | null {
  if (o < 0 || o + RECORD_SIZE > buf.length) {
    throw new PmtuError('PMTU_ERR_INVALID', `no whole ${RECORD_SIZE}-byte record at offset ${o} of ${buf.length} bytes`);
  }
  const kind = KINDS[buf[o + L.kind]!];
  return kind === undefined ? null : plainEvent(new RecordEvent(buf, o, kind));
}

/** Decodes a batch of whole records (lazily: RecordEvent); unknown kinds are skipped and counted. */
export function decodeBatch(buf: Buffer): { events: PmtuEvent[]; unknown: number } {
  if (buf.length % RECORD_SIZE !== 0) {
    throw new PmtuError(
      'PMTU_ERR_INVALID',
      `a batch of ${buf.length} bytes is not a whole number of ${RECORD_SIZE}-byte records`,
      'the addon and the decoder disagree on bpf/events.h: rebuild with npm install',
    );
  }
  const events: PmtuEvent[] = [];
  let unknown = 0;
  for (let o = 0; o < buf.length; o += RECORD_SIZE) {
    const kind = KINDS[buf[o]!];
    if (kind !== undefined) events.push(new RecordEvent(buf, o, kind));
    else unknown++;
  }
  return { events, unknown };
}

export { FLOW_SIZE };
