// Decoder of the kernel's packed records: struct pmtu_event in bpf/events.h.
// Change RECORD_LAYOUT with that struct (its _Static_assert names this file).

import { PmtuError } from '../errors.js';
import type { Direction, EventFlags, EventKind, Flow, FlowState, MssSeen, PmtuEvent } from './events.js';

export const RECORD_SIZE = 344;
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
  snap: 216,
} as const;

/** Offsets inside struct pmtu_flow_state. */
const STATE = { firstNs: 0, lastNs: 8, mssFirst: 16, mssLast: 20, mssFirstIfindex: 24, mssLastIfindex: 32, largest: 40, minMtu: 44, flags: 46, minMtuIfindex: 48 } as const;
const FS_KNOWN = 1 << 0;
const FS_SYN = 1 << 2;
const FS_SYNACK = 1 << 3;
const FS_SYN_FROM_OTHER = 1 << 4;

/** Offsets inside struct pmtu_flow. */
const FLOW = { saddr: 0, daddr: 16, sport: 32, dport: 34, proto: 36, family: 37, len: 38 } as const;
const SNAP_MAX = 128;

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

function ipv4(buf: Buffer, o: number): string {
  return `${DEC[buf[o]!]}.${DEC[buf[o + 1]!]}.${DEC[buf[o + 2]!]}.${DEC[buf[o + 3]!]}`;
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

function flow(buf: Buffer, v: DataView, o: number): Flow | null {
  const family = buf[o + FLOW.family];
  if (family !== 4 && family !== 6) return null;
  const addr = family === 4 ? ipv4 : ipv6;
  return {
    family,
    src: addr(buf, o + FLOW.saddr),
    dst: addr(buf, o + FLOW.daddr),
    sport: v.getUint16(o + FLOW.sport, true),
    dport: v.getUint16(o + FLOW.dport, true),
    proto: buf[o + FLOW.proto]!,
    len: v.getUint16(o + FLOW.len, true),
  };
}

/** One frozen flags object per flags byte, shared by every event that has it. */
const FLAGS: readonly Readonly<EventFlags>[] = Array.from({ length: 256 }, (_, f) =>
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

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function decodeAt(buf: Buffer, v: DataView, o: number): PmtuEvent | null {
  const L = RECORD_LAYOUT;
  const kind = KINDS[buf[o + L.kind]!];
  if (kind === undefined) return null;
  const snapLen = Math.min(v.getUint16(o + L.snapLen, true), SNAP_MAX);
  return {
    kind,
    dir: DIRS[buf[o + L.dir]!] ?? null,
    tsNs: v.getBigUint64(o + L.tsNs, true),
    netnsInode: v.getUint32(o + L.netns, true),
    ifindex: v.getUint32(o + L.ifindex, true),
    ifname: cString(buf, o + L.ifname, 16),
    mtu: v.getUint32(o + L.mtu, true),
    len: v.getUint32(o + L.len, true),
    mss: v.getUint16(o + L.mss, true),
    vlan: v.getUint16(o + L.vlan, true),
    reason: v.getUint32(o + L.reason, true),
    icmpType: buf[o + L.icmpType]!,
    icmpCode: buf[o + L.icmpCode]!,
    timeouts: buf[o + L.timeouts]!,
    mtuIfindex: v.getUint32(o + L.mtuIfindex, true),
    mtuNetnsInode: v.getUint32(o + L.mtuNetns, true),
    mtuIfname: cString(buf, o + L.mtuIfname, 16),
    flags: FLAGS[buf[o + L.flags]!]!,
    outer: flow(buf, v, o + L.outer),
    inner: flow(buf, v, o + L.inner),
    state: flowState(buf, v, o + L.state),
    snap: buf.subarray(o + L.snap, o + L.snap + snapLen),
  };
}

/** Decodes one record at offset o. Returns null for a kind this version does not know. */
export function decodeRecord(buf: Buffer, o = 0): PmtuEvent | null {
  if (o < 0 || o + RECORD_SIZE > buf.length) {
    throw new PmtuError('PMTU_ERR_INVALID', `no whole ${RECORD_SIZE}-byte record at offset ${o} of ${buf.length} bytes`);
  }
  return decodeAt(buf, viewOf(buf), o);
}

/** Decodes a batch of whole records; unknown kinds are skipped and counted. */
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
  const v = viewOf(buf);
  for (let o = 0; o < buf.length; o += RECORD_SIZE) {
    const ev = decodeAt(buf, v, o);
    if (ev) events.push(ev);
    else unknown++;
  }
  return { events, unknown };
}

export { FLOW_SIZE };
