// What the tc program (bpf/tc.bpf.c, bpf/parse.bpf.c) must report for a frame
// run through BPF_PROG_TEST_RUN, computed in TypeScript from the bytes: the
// reference the fuzz test holds the kernel side to, field by field.
//
// It is written from the protocols (Ethernet, 802.1Q/802.1ad, IPv4, IPv6 and
// its extension headers, TCP, ICMP/ICMPv6 errors) plus the program's stated
// limits, which are part of what it promises: two VLAN tags; three extension
// headers before the L4 header on the fast path (hop-by-hop, routing,
// destination options; a fragment header ends the search) and four in the
// snapshot (fragments included); 128 bytes kept from the IP header on; the
// largest DF packet per flow and direction reported when it grows, from
// sizeReportMin on (the program's every-flow mode: by default healthy flows
// report nothing, which test/bpf/flow-table.kernel.test.ts covers).
//
// The test-run context: the frame arrives on loopback (ifindex 1, MTU 65536)
// with a socket attached (so egress PTBs count as this host's own), never
// tagged out of band, never GSO.

import { ipv6 as ipv6Text } from '../../src/observer/decode.js';
import type { EventFlags, EventKind, Flow } from '../../src/observer/events.js';

export const SNAP_LEN = 128;
const LOOPBACK_MTU = 65536;
const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8]);
/** Protocols whose first four bytes are source and destination ports. */
const PORT_PROTOS = new Set([6, 17, 132, 136]);

export interface ExpectedEvent {
  kind: EventKind;
  dir: 'ingress' | 'egress';
  flags: EventFlags;
  icmpType: number;
  icmpCode: number;
  mtu: number;
  len: number;
  mss: number;
  vlan: number;
  outer: Flow | null;
  inner: Flow | null;
  snap: Buffer;
}

/** What BPF_PROG_TEST_RUN does with the frame: refuse it, or run it with this event (or none). */
export type Outcome = { refused: string } | { event: ExpectedEvent | null };

const u16 = (b: Buffer, o: number) => (b[o]! << 8) | b[o + 1]!;

function v4Text(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** A flow as the program fills it: fields it did not reach stay 0. */
interface RawFlow {
  family: 0 | 4 | 6;
  saddr: Buffer;
  daddr: Buffer;
  sport: number;
  dport: number;
  proto: number;
  len: number;
}

function emptyFlow(): RawFlow {
  return { family: 0, saddr: Buffer.alloc(16), daddr: Buffer.alloc(16), sport: 0, dport: 0, proto: 0, len: 0 };
}

function sameAddr(a: Buffer, b: Buffer, family: number): boolean {
  const n = family === 4 ? 4 : 16;
  return a.subarray(0, n).equals(b.subarray(0, n));
}

function flowOf(f: RawFlow): Flow | null {
  if (f.family === 0) return null;
  const text = f.family === 4 ? (a: Buffer) => v4Text(a, 0) : (a: Buffer) => ipv6Text(a, 0);
  return { family: f.family, src: text(f.saddr), dst: text(f.daddr), sport: f.sport, dport: f.dport, proto: f.proto, len: f.len };
}

/**
 * The IP header at `off` of a snapshot of `len` bytes: fills f, returns the
 * L4 offset, or -1 when the header is cut short or is not IP (a cut IPv6
 * extension chain leaves what was read before it in f).
 */
function parseIp(s: Buffer, len: number, off: number, f: RawFlow): number {
  if (off + 20 > len) return -1;
  const version = s[off]! >> 4;
  let l4: number;
  let proto: number;
  let laterFragment = 0;
  if (version === 4) {
    const ihl = (s[off]! & 0xf) * 4;
    if (ihl < 20) return -1;
    f.family = 4;
    f.len = u16(s, off + 2);
    proto = s[off + 9]!;
    laterFragment = u16(s, off + 6) & 0x1fff;
    s.copy(f.saddr, 0, off + 12, off + 16);
    s.copy(f.daddr, 0, off + 16, off + 20);
    l4 = off + ihl;
  } else if (version === 6) {
    if (off + 40 > len) return -1;
    f.family = 6;
    f.len = (u16(s, off + 4) + 40) & 0xffff;
    proto = s[off + 6]!;
    s.copy(f.saddr, 0, off + 8, off + 24);
    s.copy(f.daddr, 0, off + 24, off + 40);
    l4 = off + 40;
    for (let i = 0; i < 4 && [0, 43, 44, 60].includes(proto); i++) {
      if (l4 + 8 > len) return -1;
      if (proto === 44) {
        laterFragment = u16(s, l4 + 2) & 0xfff8;
        proto = s[l4]!;
        l4 += 8;
      } else {
        proto = s[l4]!;
        l4 += (s[l4 + 1]! + 1) * 8;
      }
    }
  } else {
    return -1;
  }
  f.proto = proto;
  if (PORT_PROTOS.has(proto) && !laterFragment && l4 + 4 <= len) {
    f.sport = u16(s, l4);
    f.dport = u16(s, l4 + 2);
  }
  return l4;
}

function isIcmpError(family: number, proto: number, type: number): boolean {
  if (family === 4 && proto === 1) return [3, 4, 5, 11, 12].includes(type);
  if (family === 6 && proto === 58) return type >= 1 && type <= 4;
  return false;
}

/** The MSS option of the TCP header at l4, or 0 (options read up to the data offset and the snapshot's end). */
function tcpMss(s: Buffer, len: number, l4: number): number {
  if (l4 + 20 > len) return 0;
  const end = Math.min(l4 + (s[l4 + 12]! >> 4) * 4, len);
  let o = l4 + 20;
  for (let i = 0; i < 40 && o < end; i++) {
    if (o > SNAP_LEN - 4) return 0;
    const kind = s[o]!;
    if (kind === 0) return 0;
    if (kind === 1) {
      o++;
      continue;
    }
    if (o + 1 >= len) return 0; // the length byte is past the snapshot: no option there
    const optlen = s[o + 1]!;
    if (kind === 2 && optlen === 4 && o + 4 <= end) return u16(s, o + 2);
    if (optlen < 2) return 0;
    o += optlen;
  }
  return 0;
}

/** What the fast path reads from the frame: is it a PTB, a SYN, a DF packet of which length, for which flow. */
interface Wire {
  l3: number;
  l3Len: number;
  family: number;
  proto: number;
  df: boolean;
  ptb: boolean;
  syn: boolean;
  ack: boolean;
  vlan: number;
  sport: number;
  dport: number;
  saddr: string;
  daddr: string;
}

function readWire(frame: Buffer): Wire | undefined {
  let type = u16(frame, 12);
  let l3 = ETH_HLEN;
  let vlan = 0;
  for (let i = 0; i < 2 && VLAN_TYPES.has(type); i++) {
    if (l3 + 4 > frame.length) return undefined;
    if (!vlan) vlan = u16(frame, l3) & 0x0fff;
    type = u16(frame, l3 + 2);
    l3 += 4;
  }
  const p = l3;
  const w: Wire = { l3, l3Len: 0, family: 0, proto: 0, df: false, ptb: false, syn: false, ack: false, vlan, sport: 0, dport: 0, saddr: '', daddr: '' };
  const present = frame.length - l3;
  let l4: number;
  if (type === ETH_P_IP) {
    if (p + 20 > frame.length || frame[p]! >> 4 !== 4) return undefined;
    w.family = 4;
    w.l3Len = Math.min(u16(frame, p + 2), present);
    w.proto = frame[p + 9]!;
    w.df = (frame[p + 6]! & 0x40) !== 0;
    w.saddr = frame.subarray(p + 12, p + 16).toString('hex');
    w.daddr = frame.subarray(p + 16, p + 20).toString('hex');
    l4 = (frame[p]! & 0xf) * 4;
    if (l4 < 20 || u16(frame, p + 6) & 0x1fff) return w; // later fragments carry no L4 header
  } else if (type === ETH_P_IPV6) {
    if (p + 40 > frame.length || frame[p]! >> 4 !== 6) return undefined;
    w.family = 6;
    w.l3Len = Math.min(u16(frame, p + 4) + 40, present);
    w.proto = frame[p + 6]!;
    w.df = true;
    w.saddr = frame.subarray(p + 8, p + 24).toString('hex');
    w.daddr = frame.subarray(p + 24, p + 40).toString('hex');
    l4 = 40;
    for (let i = 0; i < 3 && [0, 43, 60].includes(w.proto); i++) {
      if (l4 > 200 || p + l4 + 2 > frame.length) return w;
      w.proto = frame[p + l4]!;
      l4 += (frame[p + l4 + 1]! + 1) * 8;
    }
  } else {
    return undefined;
  }
  if (l4 > 256 || p + l4 + 8 > frame.length) return w;
  const t = p + l4;
  if (w.proto === 6 || w.proto === 17) {
    w.sport = u16(frame, t);
    w.dport = u16(frame, t + 2);
  }
  if (w.proto === 6) {
    if (t + 14 > frame.length) return w;
    w.syn = (frame[t + 13]! & 0x02) !== 0;
    w.ack = (frame[t + 13]! & 0x10) !== 0;
  } else if ((w.family === 4 && w.proto === 1 && frame[t] === 3 && frame[t + 1] === 4) || (w.family === 6 && w.proto === 58 && frame[t] === 2)) {
    w.ptb = true;
  }
  return w;
}

function flagsOf(bits: { df: boolean; icmpError: boolean; synAck: boolean; innerTruncated: boolean; local: boolean; quoteMismatch: boolean }): EventFlags {
  return { df: bits.df, gso: false, icmpError: bits.icmpError, oversize: false, synAck: bits.synAck, innerTruncated: bits.innerTruncated, local: bits.local, quoteMismatch: bits.quoteMismatch };
}

export class TcReference {
  /** Largest DF length reported per flow and hook, as the program's LRU map holds it (kept far below its 65536 entries). */
  private readonly largest = new Map<string, number>();

  constructor(private readonly sizeReportMin = 1280) {}

  /** Flows whose largest DF size is being tracked. */
  get trackedFlows(): number {
    return this.largest.size;
  }

  run(frame: Buffer, dir: 'ingress' | 'egress'): Outcome {
    // BPF_PROG_TEST_RUN's own checks, before the program runs.
    if (frame.length < ETH_HLEN) return { refused: 'shorter than an Ethernet header' };
    const type = u16(frame, 12);
    if (type === ETH_P_IP && frame.length < ETH_HLEN + 20) return { refused: 'IPv4 frame shorter than an IPv4 header' };
    if (type === ETH_P_IPV6 && frame.length < ETH_HLEN + 40) return { refused: 'IPv6 frame shorter than an IPv6 header' };

    const w = readWire(frame);
    if (!w) return { event: null };
    let kind: EventKind;
    if (w.ptb) {
      kind = dir === 'egress' && w.family === 6 ? 'ptb-sent' : 'ptb';
    } else if (w.syn) {
      kind = 'syn';
    } else if (w.df && w.l3Len >= this.sizeReportMin) {
      // The flow table keeps one largest size per flow and direction, whichever hook saw it.
      const key = `${w.family}|${w.proto}|${w.saddr}|${w.daddr}|${w.sport}|${w.dport}`;
      if ((this.largest.get(key) ?? -1) >= w.l3Len) return { event: null };
      this.largest.set(key, w.l3Len);
      kind = 'size';
    } else {
      return { event: null };
    }

    const snap = Buffer.from(frame.subarray(w.l3, w.l3 + SNAP_LEN));
    const len = snap.length;
    const outer = emptyFlow();
    const inner = emptyFlow();
    let mtu = LOOPBACK_MTU;
    let df = false;
    let icmpError = false;
    let innerTruncated = false;
    let icmpType = 0;
    let icmpCode = 0;
    const l4 = parseIp(snap, len, 0, outer);
    if (l4 >= 0) {
      df = outer.family === 6 || (u16(snap, 6) & 0x4000) !== 0;
      if (l4 + 8 <= len && isIcmpError(outer.family, outer.proto, snap[l4]!)) {
        icmpError = true;
        icmpType = snap[l4]!;
        icmpCode = snap[l4 + 1]!;
        if (outer.family === 4 && icmpType === 3 && icmpCode === 4) mtu = u16(snap, l4 + 6);
        else if (outer.family === 6 && icmpType === 2) mtu = snap.readUInt32BE(l4 + 4);
        const innerL4 = parseIp(snap, len, l4 + 8, inner);
        innerTruncated = innerL4 < 0 || (PORT_PROTOS.has(inner.proto) && innerL4 + 4 > len);
      }
    }
    const event: ExpectedEvent = {
      kind,
      dir,
      flags: flagsOf({
        df,
        icmpError,
        synAck: kind === 'syn' && w.ack,
        innerTruncated,
        local: kind !== 'size' && dir === 'egress',
        // A PTB whose quoted source is not its own destination cannot be genuine.
        quoteMismatch: w.ptb && outer.family !== 0 && inner.family !== 0 && (inner.family !== outer.family || !sameAddr(inner.saddr, outer.daddr, outer.family)),
      }),
      icmpType,
      icmpCode,
      mtu,
      len: w.l3Len,
      mss: kind === 'syn' && l4 >= 0 ? tcpMss(snap, len, l4) : 0,
      vlan: w.vlan,
      outer: flowOf(outer),
      inner: flowOf(inner),
      snap,
    };
    return { event };
  }
}
