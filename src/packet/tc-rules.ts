// The tc program's rules (bpf/tc.bpf.c, bpf/parse.bpf.c) in TypeScript: what
// it reads from a packet, decides about it, and reports. One statement of
// them for two readers: `analyze` runs every packet of a capture through it,
// and the fuzz test (test/bpf/tc-fuzz.kernel.test.ts, through
// test/helpers/tc-reference.ts) holds the kernel to it over a corpus of
// hostile frames, field by field. Change a rule here and in bpf/ together.
//
// Written from the protocols (Ethernet, 802.1Q/802.1ad, IPv4, IPv6 and its
// extension headers, TCP, ICMP/ICMPv6 errors) plus the program's stated
// limits, which are part of what it promises: two VLAN tags; three extension
// headers before the L4 header on the fast path (hop-by-hop, routing,
// destination options; a fragment header ends the search) and four in the
// snapshot (fragments included); 256 bytes kept from the IP header on; one
// level of tunnel (IPIP, sit, ip6ip6, ip4ip6, GRE version 0 without routing,
// GRETAP, VXLAN on 4789/8472 with its I flag, Geneve version 0 on 6081;
// inner Ethernet untagged, carrying IPv4 or IPv6), whose packet the event
// then describes, and one in an ICMP error's quote.
//
//   readFrame(frame)            the fast path on an Ethernet frame: a Wire
//   readPacket(buf, family, n)  the same from the IP header on (a capture's packet)
//   describe(buf, wire, ...)    the event the program fills for it (kind decided by the caller)
//
// What is not here is the context a packet arrives in (the hook's device and
// MTU, whether a socket sent it, the flow table): the caller's.

import { ipv6 as ipv6Text } from '../observer/decode.js';
import type { Encap, EncapType, EventFlags, EventKind, Flow } from '../observer/events.js';

export const SNAP_LEN = 256;
const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8]);
/** Protocols whose first four bytes are source and destination ports. */
const PORT_PROTOS = new Set([6, 17, 132, 136]);

const u16 = (b: Buffer, o: number) => (b[o]! << 8) | b[o + 1]!;

function v4Text(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** A flow as the program fills it: fields it did not reach stay 0. */
export interface RawFlow {
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

export function flowOf(f: RawFlow): Flow | null {
  if (f.family === 0) return null;
  const text = f.family === 4 ? (a: Buffer) => v4Text(a, 0) : (a: Buffer) => ipv6Text(a, 0);
  return { family: f.family, src: text(f.saddr), dst: text(f.daddr), sport: f.sport, dport: f.dport, proto: f.proto, len: f.len };
}

/**
 * The IP header at `off` of a snapshot of `len` bytes: fills f, returns the
 * L4 offset, or -1 when the header is cut short or is not IP (a cut IPv6
 * extension chain leaves what was read before it in f).
 */
function parseIp(s: Buffer, len: number, off: number, f: RawFlow, frag: { later: boolean } = { later: false }): number {
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
  frag.later = laterFragment !== 0;
  if (PORT_PROTOS.has(proto) && !laterFragment && l4 + 4 <= len) {
    f.sport = u16(s, l4);
    f.dport = u16(s, l4 + 2);
  }
  return l4;
}

const TUNNEL_PORTS = new Set([4789, 8472, 6081]);

export interface RawEncap {
  type: EncapType;
  family: 4 | 6;
  overhead: number;
  id: number;
  sport: number;
  dport: number;
  saddr: Buffer;
  daddr: Buffer;
  quoted: boolean;
}

/** The IP header after an inner Ethernet header at eth, and its version, or undefined. */
function innerEther(s: Buffer, len: number, eth: number): { at: number; family: 4 | 6 } | undefined {
  if (eth + 14 > len) return undefined;
  const type = u16(s, eth + 12);
  if (type === ETH_P_IP) return { at: eth + 14, family: 4 };
  if (type === ETH_P_IPV6) return { at: eth + 14, family: 6 };
  return undefined;
}

/**
 * One level of tunnel for the IP header at off (parsed into t, L4 at l4):
 * the inner IP header's offset and the tunnel, or undefined (no tunnel, its
 * own header cut short, or the inner header's version not the one it carries).
 */
function parseTunnel(s: Buffer, len: number, off: number, t: RawFlow, l4: number): { at: number; e: RawEncap } | undefined {
  if (l4 > SNAP_LEN - 8) return undefined;
  let type: EncapType;
  let family: 4 | 6 | 0 = 0;
  let at: number | undefined;
  let id = 0;
  if (t.proto === 4 || t.proto === 41) {
    family = t.proto === 4 ? 4 : 6;
    type = t.family === 4 ? (family === 4 ? 'ipip' : 'sit') : family === 4 ? 'ip4ip6' : 'ip6ip6';
    at = l4;
  } else if (t.proto === 47) {
    if (l4 + 4 > len) return undefined;
    const flags = u16(s, l4);
    const ptype = u16(s, l4 + 2);
    if (flags & (0x4000 | 0x0007)) return undefined;
    let h = 4;
    if (flags & 0x8000) h += 4;
    if (flags & 0x2000) {
      if (l4 + h + 4 > len) return undefined;
      id = s.readUInt32BE(l4 + h);
      h += 4;
    }
    if (flags & 0x1000) h += 4;
    if (l4 + h > len) return undefined;
    if (ptype === 0x6558) {
      type = 'gretap';
      const e = innerEther(s, len, l4 + h);
      if (e) ({ at, family } = e);
    } else {
      type = 'gre';
      family = ptype === ETH_P_IP ? 4 : ptype === ETH_P_IPV6 ? 6 : 0;
      if (family) at = l4 + h;
    }
  } else if (t.proto === 17 && TUNNEL_PORTS.has(t.dport)) {
    const g = l4 + 8;
    if (g + 8 > len) return undefined;
    id = (u16(s, g + 4) << 8) | s[g + 6]!;
    if (t.dport !== 6081) {
      if (!(s[g]! & 0x08)) return undefined;
      type = 'vxlan';
      const e = innerEther(s, len, g + 8);
      if (e) ({ at, family } = e);
    } else {
      const opts = (s[g]! & 0x3f) * 4;
      const ptype = u16(s, g + 2);
      if (s[g]! >> 6) return undefined;
      type = 'geneve';
      if (ptype === 0x6558) {
        const e = innerEther(s, len, g + 8 + opts);
        if (e) ({ at, family } = e);
      } else {
        family = ptype === ETH_P_IP ? 4 : ptype === ETH_P_IPV6 ? 6 : 0;
        if (family && g + 8 + opts <= len) at = g + 8 + opts;
      }
    }
  } else {
    return undefined;
  }
  if (at === undefined || at > SNAP_LEN - 1 || !family) return undefined;
  if (at < len && s[at]! >> 4 !== family) return undefined;
  const udp = t.proto === 17;
  return {
    at,
    e: { type, family: t.family as 4 | 6, overhead: at - off, id, sport: udp ? t.sport : 0, dport: udp ? t.dport : 0, saddr: Buffer.from(t.saddr), daddr: Buffer.from(t.daddr), quoted: false },
  };
}

export function encapOf(e: RawEncap | undefined): Encap | null {
  if (!e) return null;
  const text = e.family === 4 ? (a: Buffer) => v4Text(a, 0) : (a: Buffer) => ipv6Text(a, 0);
  return { type: e.type, family: e.family, src: text(e.saddr), dst: text(e.daddr), overhead: e.overhead, id: e.id, sport: e.sport, dport: e.dport, quoted: e.quoted };
}

/** What pmtu_parse_snapshot() makes of a snapshot. */
export interface Parsed {
  /** The subject's L4 header in the snapshot (the packet inside the packet's own tunnel), -1 when its IP header is cut short. */
  l4: number;
  /** The subject's IP header in the snapshot: 0, or the inner one of the packet's own tunnel. */
  ip: number;
  outer: RawFlow;
  inner: RawFlow;
  encap: RawEncap | undefined;
  df: boolean;
  icmpError: boolean;
  icmpType: number;
  icmpCode: number;
  /** The advertised MTU of a frag-needed / Packet Too Big. */
  mtu: number | undefined;
  innerTruncated: boolean;
  /** An ICMP error's quoted L4 header in the snapshot (inside the quoted tunnel), -1 when the quote is cut before it. */
  innerL4: number;
}

export function parseSnapshot(snap: Buffer): Parsed {
  const len = snap.length;
  const p: Parsed = { l4: -1, ip: 0, outer: emptyFlow(), inner: emptyFlow(), encap: undefined, df: false, icmpError: false, icmpType: 0, icmpCode: 0, mtu: undefined, innerTruncated: false, innerL4: -1 };
  const frag = { later: false };
  let l4 = parseIp(snap, len, 0, p.outer, frag);
  if (l4 < 0) return p;
  p.df = p.outer.family === 6 || (u16(snap, 6) & 0x4000) !== 0;
  const own = frag.later ? undefined : parseTunnel(snap, len, 0, p.outer, l4);
  if (own) {
    const f = emptyFlow();
    const l = parseIp(snap, len, own.at, f, frag);
    if (l >= 0) {
      p.outer = f;
      p.encap = own.e;
      p.ip = own.at;
      l4 = l;
    }
  }
  p.l4 = l4;
  if (l4 + 8 > len || !isIcmpError(p.outer.family, p.outer.proto, snap[l4]!)) return p;
  p.icmpError = true;
  p.icmpType = snap[l4]!;
  p.icmpCode = snap[l4 + 1]!;
  if (p.outer.family === 4 && p.icmpType === 3 && p.icmpCode === 4) p.mtu = u16(snap, l4 + 6);
  else if (p.outer.family === 6 && p.icmpType === 2) p.mtu = snap.readUInt32BE(l4 + 4);
  let innerL4 = parseIp(snap, len, l4 + 8, p.inner, frag);
  if (innerL4 >= 0 && !frag.later && !p.encap) {
    const quoted = parseTunnel(snap, len, l4 + 8, p.inner, innerL4);
    if (quoted) {
      p.encap = { ...quoted.e, quoted: true };
      const f = emptyFlow();
      const l = parseIp(snap, len, quoted.at, f, frag);
      if (l >= 0) {
        p.inner = f;
        innerL4 = l;
      } else {
        innerL4 = -1;
      }
    }
  }
  p.innerTruncated = innerL4 < 0 || (PORT_PROTOS.has(p.inner.proto) && innerL4 + 4 > len);
  p.innerL4 = innerL4;
  return p;
}

function isIcmpError(family: number, proto: number, type: number): boolean {
  if (family === 4 && proto === 1) return [3, 4, 5, 11, 12].includes(type);
  if (family === 6 && proto === 58) return type >= 1 && type <= 4;
  return false;
}

/** The MSS option of the TCP header at l4, or 0 (options read up to the data offset and the snapshot's end). */
export function tcpMss(s: Buffer, len: number, l4: number): number {
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

/**
 * What the fast path reads from a packet: is it a PTB, a SYN, a DF packet of
 * which length, for which flow. In a tunnel (its own, not a quoted one) the
 * flow, ports and length are the packet inside it.
 */
export interface Wire {
  /** The outer IP header's offset in the buffer. */
  l3: number;
  /** The subject packet's IP length as its header states it, at most what the wire carries (inside a tunnel: less its overhead). */
  l3Len: number;
  family: 4 | 6;
  proto: number;
  /** The outer header's DF (IPv6: always). */
  df: boolean;
  ptb: boolean;
  syn: boolean;
  ack: boolean;
  vlan: number;
  sport: number;
  dport: number;
  /** The subject IP header's offset in the buffer: its addresses are at +12/+16 (IPv4) or +8/+24 (IPv6). */
  ip: number;
  /** The subject's L4 header's offset in the buffer, -1 when the fast path read none (a later fragment, cut short, too deep). */
  l4: number;
}

/** The source and destination address of a wire's subject as bytes of its buffer: [start, end) of each. */
export function addrRange(w: Wire): { src: number; dst: number; n: 4 | 16 } {
  return w.family === 4 ? { src: w.ip + 12, dst: w.ip + 16, n: 4 } : { src: w.ip + 8, dst: w.ip + 24, n: 16 };
}

/** The fast path on an Ethernet frame (VLAN tags in it, as the program sees them in the packet). */
export function readFrame(frame: Buffer): Wire | undefined {
  let type = u16(frame, 12);
  let l3 = ETH_HLEN;
  let vlan = 0;
  for (let i = 0; i < 2 && VLAN_TYPES.has(type); i++) {
    if (l3 + 4 > frame.length) return undefined;
    if (!vlan) vlan = u16(frame, l3) & 0x0fff;
    type = u16(frame, l3 + 2);
    l3 += 4;
  }
  return readL3(frame, l3, type, vlan, frame.length - l3);
}

/**
 * The fast path on a packet from its IP header on (a capture's: link header
 * and tags gone), `wireLen` the bytes it had on the wire from the IP header
 * on (the buffer may hold fewer: a snaplen).
 */
export function readPacket(packet: Buffer, family: 4 | 6, wireLen: number): Wire | undefined {
  return readL3(packet, 0, family === 4 ? ETH_P_IP : ETH_P_IPV6, 0, wireLen);
}

function readL3(frame: Buffer, p: number, type: number, vlan: number, present: number): Wire | undefined {
  const w: Wire = { l3: p, l3Len: 0, family: 4, proto: 0, df: false, ptb: false, syn: false, ack: false, vlan, sport: 0, dport: 0, ip: p, l4: -1 };
  let l4: number;
  if (type === ETH_P_IP) {
    if (p + 20 > frame.length || frame[p]! >> 4 !== 4) return undefined;
    w.l3Len = Math.min(u16(frame, p + 2), present);
    w.proto = frame[p + 9]!;
    w.df = (frame[p + 6]! & 0x40) !== 0;
    l4 = (frame[p]! & 0xf) * 4;
    if (l4 < 20 || u16(frame, p + 6) & 0x1fff) return w; // later fragments carry no L4 header
  } else if (type === ETH_P_IPV6) {
    if (p + 40 > frame.length || frame[p]! >> 4 !== 6) return undefined;
    w.family = 6;
    w.l3Len = Math.min(u16(frame, p + 4) + 40, present);
    w.proto = frame[p + 6]!;
    w.df = true;
    l4 = 40;
    for (let i = 0; i < 3 && (w.proto === 0 || w.proto === 43 || w.proto === 60); i++) {
      if (l4 > 200 || p + l4 + 2 > frame.length) return w;
      w.proto = frame[p + l4]!;
      l4 += (frame[p + l4 + 1]! + 1) * 8;
    }
  } else {
    return undefined;
  }
  if (l4 > 256 || p + l4 + 8 > frame.length) return w;
  const t = p + l4;
  if (w.proto === 4 || w.proto === 41 || w.proto === 47 || (w.proto === 17 && TUNNEL_PORTS.has(u16(frame, t + 2)))) {
    const inside = tunnelWire(frame, w, present);
    if (inside) return inside;
  }
  w.l4 = t;
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

/** pmtu_tc_tunnel(): the wire of the packet inside a tunnel, or undefined when it is no tunnel after all. */
function tunnelWire(frame: Buffer, w: Wire, present: number): Wire | undefined {
  const snap = frame.subarray(w.l3, w.l3 + SNAP_LEN);
  if (!snap.length) return undefined;
  const p = parseSnapshot(snap);
  if (p.l4 < 0 || !p.encap || p.encap.quoted) return undefined;
  const inner: Wire = { ...w, family: p.outer.family as 4 | 6, proto: p.outer.proto, sport: p.outer.sport, dport: p.outer.dport, ip: w.l3 + p.ip, l4: w.l3 + p.l4 };
  inner.l3Len = Math.min(p.outer.len, present - p.encap.overhead);
  if (p.outer.proto === 6) {
    if (p.l4 <= SNAP_LEN - 14 && p.l4 + 14 <= snap.length) {
      inner.syn = (snap[p.l4 + 13]! & 0x02) !== 0;
      inner.ack = (snap[p.l4 + 13]! & 0x10) !== 0;
    }
  } else if (p.icmpError && ((p.outer.family === 4 && p.icmpType === 3 && p.icmpCode === 4) || (p.outer.family === 6 && p.icmpType === 2))) {
    inner.ptb = true;
  }
  return inner;
}

/** The kind of a PTB's event: an IPv6 one leaving at tc is this host sending it (IPv6 has no icmp_send tracepoint for it). */
export function ptbKind(dir: 'ingress' | 'egress' | null, family: 4 | 6): 'ptb' | 'ptb-sent' {
  return dir === 'egress' && family === 6 ? 'ptb-sent' : 'ptb';
}

/** What the program fills in an event, apart from its context (the hook's MTU, `local`, the flow's state). */
export interface RuleEvent {
  kind: EventKind;
  /** flags.local is false: whether a socket sent the packet is the context's. */
  flags: EventFlags;
  icmpType: number;
  icmpCode: number;
  /** A PTB's advertised MTU; undefined for the others (their event carries the hook device's). */
  ptbMtu: number | undefined;
  len: number;
  mss: number;
  vlan: number;
  outer: Flow | null;
  inner: Flow | null;
  encap: Encap | null;
  /** The snapshot (a view of the buffer, up to SNAP_LEN bytes from the IP header on). */
  snap: Buffer;
  /** Its parse, for what the event does not carry (the quoted L4 header). */
  parsed: Parsed;
}

/** The event the program makes of a packet whose wire it read, once the kind is decided. */
export function describe(buf: Buffer, w: Wire, kind: EventKind): RuleEvent {
  const snap = buf.subarray(w.l3, w.l3 + SNAP_LEN);
  const p = parseSnapshot(snap);
  const { outer, inner } = p;
  // A PTB whose quoted source (the quoted tunnel's, when it quotes one) is not its own destination cannot be genuine.
  const quotedSrc = p.encap?.quoted ? { family: p.encap.family, saddr: p.encap.saddr } : { family: inner.family, saddr: inner.saddr };
  return {
    kind,
    flags: {
      df: p.df,
      gso: false,
      icmpError: p.icmpError,
      oversize: false,
      synAck: kind === 'syn' && w.ack,
      innerTruncated: p.innerTruncated,
      local: false,
      quoteMismatch: w.ptb && outer.family !== 0 && quotedSrc.family !== 0 && (quotedSrc.family !== outer.family || !sameAddr(quotedSrc.saddr, outer.daddr, outer.family)),
    },
    icmpType: p.icmpType,
    icmpCode: p.icmpCode,
    ptbMtu: p.mtu,
    len: w.l3Len,
    mss: kind === 'syn' && p.l4 >= 0 ? tcpMss(snap, snap.length, p.l4) : 0,
    vlan: w.vlan,
    outer: flowOf(outer),
    inner: flowOf(inner),
    encap: encapOf(p.encap),
    snap,
    parsed: p,
  };
}
