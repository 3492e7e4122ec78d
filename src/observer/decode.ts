// Decoder of the kernel's packed records: struct pmtu_event in bpf/events.h.
// Change RECORD_LAYOUT with that struct (its _Static_assert names this file).

import { PmtuError } from '../errors.js';
import type { Direction, EventKind, Flow, PmtuEvent } from './events.js';

export const RECORD_SIZE = 288;
const FLOW_SIZE = 40;

/** Byte offsets of struct pmtu_event (little-endian host order; addresses in network order). */
export const RECORD_LAYOUT = {
  kind: 0,
  dir: 1,
  flags: 2,
  icmpType: 3,
  icmpCode: 4,
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
  snap: 160,
} as const;

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

function cString(buf: Buffer, start: number, max: number): string {
  let end = start;
  while (end < start + max && buf[end] !== 0) end++;
  return buf.toString('latin1', start, end);
}

function ipv4(buf: Buffer, o: number): string {
  return `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
}

/** RFC 5952: lowercase, no leading zeros, the longest run (≥2) of zero groups as '::'. */
export function ipv6(buf: Buffer, o: number): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = buf.readUInt16BE(o + i * 2);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (bestStart === 0 && bestLen === 5 && groups[5] === 0xffff) return `::ffff:${ipv4(buf, o + 12)}`;
  if (bestStart < 0) return groups.map((g) => g!.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g!.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLen).map((g) => g!.toString(16)).join(':');
  return `${head}::${tail}`;
}

function flow(buf: Buffer, o: number): Flow | null {
  const family = buf[o + FLOW.family];
  if (family !== 4 && family !== 6) return null;
  const addr = family === 4 ? ipv4 : ipv6;
  return {
    family,
    src: addr(buf, o + FLOW.saddr),
    dst: addr(buf, o + FLOW.daddr),
    sport: buf.readUInt16LE(o + FLOW.sport),
    dport: buf.readUInt16LE(o + FLOW.dport),
    proto: buf[o + FLOW.proto]!,
    len: buf.readUInt16LE(o + FLOW.len),
  };
}

/** Decodes one record at offset o. Returns null for a kind this version does not know. */
export function decodeRecord(buf: Buffer, o = 0): PmtuEvent | null {
  const L = RECORD_LAYOUT;
  const kind = KINDS[buf[o + L.kind]!];
  if (kind === undefined) return null;
  const flags = buf[o + L.flags]!;
  const snapLen = Math.min(buf.readUInt16LE(o + L.snapLen), SNAP_MAX);
  return {
    kind,
    dir: DIRS[buf[o + L.dir]!] ?? null,
    tsNs: buf.readBigUInt64LE(o + L.tsNs),
    netnsInode: buf.readUInt32LE(o + L.netns),
    ifindex: buf.readUInt32LE(o + L.ifindex),
    ifname: cString(buf, o + L.ifname, 16),
    mtu: buf.readUInt32LE(o + L.mtu),
    len: buf.readUInt32LE(o + L.len),
    mss: buf.readUInt16LE(o + L.mss),
    vlan: buf.readUInt16LE(o + L.vlan),
    reason: buf.readUInt32LE(o + L.reason),
    icmpType: buf[o + L.icmpType]!,
    icmpCode: buf[o + L.icmpCode]!,
    mtuIfindex: buf.readUInt32LE(o + L.mtuIfindex),
    mtuNetnsInode: buf.readUInt32LE(o + L.mtuNetns),
    mtuIfname: cString(buf, o + L.mtuIfname, 16),
    flags: {
      df: (flags & F_DF) !== 0,
      gso: (flags & F_GSO) !== 0,
      icmpError: (flags & F_ICMP_ERR) !== 0,
      oversize: (flags & F_OVERSIZE) !== 0,
      synAck: (flags & F_SYNACK) !== 0,
      innerTruncated: (flags & F_INNER_TRUNC) !== 0,
      local: (flags & F_LOCAL) !== 0,
    },
    outer: flow(buf, o + L.outer),
    inner: flow(buf, o + L.inner),
    snap: buf.subarray(o + L.snap, o + L.snap + snapLen),
  };
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
  for (let o = 0; o < buf.length; o += RECORD_SIZE) {
    const ev = decodeRecord(buf, o);
    if (ev) events.push(ev);
    else unknown++;
  }
  return { events, unknown };
}

export { FLOW_SIZE };
