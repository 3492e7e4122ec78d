// Raw frames for BPF_PROG_TEST_RUN, from the Ethernet header on, with
// correct lengths and checksums: IPv4 (options, DF), IPv6, 802.1Q/802.1ad
// tags, TCP (flags, MSS), UDP, ICMP frag-needed and ICMPv6 Packet Too Big
// quoting an inner packet.

import { isIPv4 } from 'node:net';

export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

function v4bytes(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

function v6bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

export function checksum(...parts: Buffer[]): number {
  let sum = 0;
  const all = Buffer.concat(parts);
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface Ipv4Options {
  src: string;
  dst: string;
  proto: number;
  payload: Buffer;
  df?: boolean;
  /** Bytes of IP options (a multiple of 4, at most 40), filled with NOPs. */
  optionBytes?: number;
  ttl?: number;
  /** Overrides the total length field (for bogus headers). */
  totalLength?: number;
  fragOffset?: number;
}

export function ipv4(o: Ipv4Options): Buffer {
  const opts = o.optionBytes ?? 0;
  const h = Buffer.alloc(20 + opts, 1); // NOP options
  h[0] = 0x40 | ((20 + opts) / 4);
  h[1] = 0;
  h.writeUInt16BE(o.totalLength ?? h.length + o.payload.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | ((o.fragOffset ?? 0) & 0x1fff), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  h.writeUInt16BE(0, 10);
  v4bytes(o.src).copy(h, 12);
  v4bytes(o.dst).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, o.payload]);
}

export function ipv6(o: { src: string; dst: string; next: number; payload: Buffer; hopLimit?: number }): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.next;
  h[7] = o.hopLimit ?? 64;
  v6bytes(o.src).copy(h, 8);
  v6bytes(o.dst).copy(h, 24);
  return Buffer.concat([h, o.payload]);
}

/** A hop-by-hop options header (8 bytes of PadN) in front of payload. */
export function hopByHop(next: number, payload: Buffer): Buffer {
  const h = Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
  return Buffer.concat([h, payload]);
}

function pseudo(src: string, dst: string, proto: number, len: number): Buffer {
  if (isIPv4(src)) {
    const p = Buffer.alloc(12);
    v4bytes(src).copy(p, 0);
    v4bytes(dst).copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  v6bytes(src).copy(p, 0);
  v6bytes(dst).copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

export interface TcpOptions {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  syn?: boolean;
  ack?: boolean;
  mss?: number;
  payload?: Buffer;
  /** Sequence number (default 1000). */
  seq?: number;
  /** Acknowledgment number, with ack (default 2000). */
  ackSeq?: number;
}

export function tcp(o: TcpOptions): Buffer {
  // MSS first, then NOP NOP + SACK-permitted, as Linux sends on SYNs.
  const opts = o.mss !== undefined ? Buffer.from([2, 4, o.mss >> 8, o.mss & 0xff, 1, 1, 4, 2]) : Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE(o.ack ? (o.ackSeq ?? 2000) >>> 0 : 0, 8);
  h[12] = ((20 + opts.length) / 4) << 4;
  h[13] = (o.syn ? 0x02 : 0) | (o.ack ? 0x10 : 0);
  h.writeUInt16BE(65535, 14);
  opts.copy(h, 20);
  const seg = Buffer.concat([h, o.payload ?? Buffer.alloc(0)]);
  seg.writeUInt16BE(checksum(pseudo(o.src, o.dst, PROTO.tcp, seg.length), seg), 16);
  return seg;
}

export function udp(o: { src: string; dst: string; sport: number; dport: number; payload?: Buffer }): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  const seg = Buffer.concat([h, payload]);
  seg.writeUInt16BE(checksum(pseudo(o.src, o.dst, PROTO.udp, seg.length), seg) || 0xffff, 6);
  return seg;
}

/** ICMP "fragmentation needed" (type 3 code 4) quoting `quoted` (an IPv4 header + 8 bytes, or what you give). */
export function icmpFragNeeded(mtu: number, quoted: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 3;
  h[1] = 4;
  h.writeUInt16BE(mtu, 6);
  const msg = Buffer.concat([h, quoted]);
  msg.writeUInt16BE(checksum(msg), 2);
  return msg;
}

/** ICMPv6 Packet Too Big (type 2) quoting `quoted`; its checksum covers the pseudo-header. */
export function icmpv6PacketTooBig(src: string, dst: string, mtu: number, quoted: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 2;
  h.writeUInt32BE(mtu, 4);
  const msg = Buffer.concat([h, quoted]);
  msg.writeUInt16BE(checksum(pseudo(src, dst, PROTO.icmpv6, msg.length), msg), 2);
  return msg;
}

/** Ethernet header (and 802.1Q / 802.1ad tags, outermost first) in front of an IP packet. */
export function ether(packet: Buffer, opts: { vlans?: number[] } = {}): Buffer {
  const version = packet[0]! >> 4;
  const type = version === 6 ? 0x86dd : 0x0800;
  const vlans = opts.vlans ?? [];
  const h = Buffer.alloc(14 + vlans.length * 4);
  Buffer.from([0x02, 0, 0, 0, 0, 2]).copy(h, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 1]).copy(h, 6);
  let o = 12;
  vlans.forEach((id, i) => {
    h.writeUInt16BE(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100, o);
    h.writeUInt16BE(id & 0x0fff, o + 2);
    o += 4;
  });
  h.writeUInt16BE(type, o);
  return Buffer.concat([h, packet]);
}

// ---------------------------------------------------------------------------
// Tunnels: the headers an encapsulating host puts in front of an inner packet
// (an IP packet for IPIP, sit, ip6ip6, ip4ip6 and GRE; an Ethernet frame for
// GRETAP, VXLAN and Geneve). The outer IP header comes from ipv4()/ipv6().

/** IP protocol numbers of the tunnels. */
export const TUNNEL_PROTO = { ipip: 4, ipv6: 41, gre: 47 } as const;

/** A GRE header (RFC 2784/2890) with optional checksum, key and sequence number, in front of payload. */
export function gre(o: { protocol: number; payload: Buffer; key?: number; seq?: number; csum?: boolean; flags?: number }): Buffer {
  const fields: Buffer[] = [];
  let flags = o.flags ?? 0;
  if (o.csum) {
    flags |= 0x8000;
    fields.push(Buffer.alloc(4)); // checksum + reserved1, left 0: the program does not check it
  }
  if (o.key !== undefined) {
    flags |= 0x2000;
    const k = Buffer.alloc(4);
    k.writeUInt32BE(o.key >>> 0);
    fields.push(k);
  }
  if (o.seq !== undefined) {
    flags |= 0x1000;
    const q = Buffer.alloc(4);
    q.writeUInt32BE(o.seq >>> 0);
    fields.push(q);
  }
  const h = Buffer.alloc(4);
  h.writeUInt16BE(flags & 0xffff, 0);
  h.writeUInt16BE(o.protocol, 2);
  return Buffer.concat([h, ...fields, o.payload]);
}

/** An Ethernet frame around an inner IP packet (what GRETAP, VXLAN and Geneve carry). */
export function innerEther(packet: Buffer): Buffer {
  const h = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x22]).copy(h, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x11]).copy(h, 6);
  h.writeUInt16BE(packet[0]! >> 4 === 6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([h, packet]);
}

/** A VXLAN header (RFC 7348: the I flag and a VNI) in front of an inner Ethernet frame. */
export function vxlan(vni: number, frame: Buffer, flags = 0x08): Buffer {
  const h = Buffer.alloc(8);
  h[0] = flags;
  h.writeUIntBE(vni & 0xffffff, 4, 3);
  return Buffer.concat([h, frame]);
}

/** A Geneve header (RFC 8926) with `options` (a multiple of 4 bytes) in front of what it carries (0x6558: Ethernet). */
export function geneve(vni: number, payload: Buffer, opts: { options?: Buffer; protocol?: number; version?: number } = {}): Buffer {
  const options = opts.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(8);
  h[0] = ((opts.version ?? 0) << 6) | ((options.length / 4) & 0x3f);
  h.writeUInt16BE(opts.protocol ?? 0x6558, 2);
  h.writeUIntBE(vni & 0xffffff, 4, 3);
  return Buffer.concat([h, options, payload]);
}
