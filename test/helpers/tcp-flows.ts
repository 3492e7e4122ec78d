// TCP conversations as IP packets with times, for pcaps of them
// (pcap-files.ts): a client and a server, SYNs with MSS, data segments with
// their sequence numbers, and the PTBs a router sends about them.

import { icmpFragNeeded, icmpv6PacketTooBig, ipv4, ipv6, PROTO, tcp } from './packets.js';

export interface Timed {
  /** Milliseconds from the capture's start. */
  ms: number;
  packet: Buffer;
  /** pcapng epb_flags / cooked packet type: 'in' or 'out' of the capture point. */
  dir?: 'in' | 'out';
}

export interface Peer {
  addr: string;
  port: number;
}

export const CLIENT: Peer = { addr: '198.18.1.2', port: 40000 };
export const SERVER: Peer = { addr: '198.18.3.2', port: 443 };
export const ROUTER = '198.19.0.1';
export const CLIENT6: Peer = { addr: '2001:db8:1::2', port: 40000 };
export const SERVER6: Peer = { addr: '2001:db8:3::2', port: 443 };
export const ROUTER6 = '2001:db8:2::1';

const v6 = (a: string) => a.includes(':');

/** A TCP segment from `from` to `to` in its IP packet. */
export function segment(from: Peer, to: Peer, o: { seq?: number; payload?: number; syn?: boolean; ack?: boolean; ackSeq?: number; mss?: number; df?: boolean; fill?: number } = {}): Buffer {
  const payload = o.payload ? Buffer.alloc(o.payload, o.fill ?? 0x61) : undefined;
  const seg = tcp({ src: from.addr, dst: to.addr, sport: from.port, dport: to.port, ack: o.ack ?? !o.syn, ...(o.syn ? { syn: true } : {}), ...(o.mss !== undefined ? { mss: o.mss } : {}), ...(o.ackSeq !== undefined ? { ackSeq: o.ackSeq } : {}), ...(payload ? { payload } : {}), seq: o.seq ?? 1000 });
  if (v6(from.addr)) return ipv6({ src: from.addr, dst: to.addr, next: PROTO.tcp, payload: seg });
  return ipv4({ src: from.addr, dst: to.addr, proto: PROTO.tcp, df: o.df ?? true, payload: seg });
}

/** A data segment of `len` bytes of IP packet (IPv4: 40 bytes of headers; IPv6: 60). */
export function data(from: Peer, to: Peer, seq: number, len: number, o: { df?: boolean } = {}): Buffer {
  return segment(from, to, { seq, payload: len - (v6(from.addr) ? 60 : 40), ...o });
}

/**
 * A router's PTB to the quoted packet's sender, quoting its first `quote`
 * bytes (Linux quotes up to 576); `quotedLength` rewrites the quoted IP length
 * (as some routers do).
 */
export function ptb(router: string, quoted: Buffer, mtu: number, o: { quote?: number; quotedLength?: number } = {}): Buffer {
  const q = Buffer.from(quoted.subarray(0, o.quote ?? 548));
  const sender = v6(router) ? ipv6Src(quoted) : `${quoted[12]}.${quoted[13]}.${quoted[14]}.${quoted[15]}`;
  if (v6(router)) return ipv6({ src: router, dst: sender, next: PROTO.icmpv6, payload: icmpv6PacketTooBig(router, sender, mtu, q.subarray(0, o.quote ?? 1232)) });
  if (o.quotedLength !== undefined) q.writeUInt16BE(o.quotedLength, 2);
  return ipv4({ src: router, dst: sender, proto: PROTO.icmp, payload: icmpFragNeeded(mtu, q) });
}

function ipv6Src(p: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(p.readUInt16BE(8 + 2 * i).toString(16));
  return groups.join(':');
}

/** The three-way handshake at `ms`: SYN with the client's MSS, SYN-ACK with the server's. */
export function handshake(ms: number, client: Peer, server: Peer, mss: { client: number; server: number }): Timed[] {
  return [
    { ms, packet: segment(client, server, { syn: true, mss: mss.client, seq: 999 }) },
    { ms: ms + 1, packet: segment(server, client, { syn: true, ack: true, mss: mss.server, seq: 4999 }) },
    { ms: ms + 2, packet: segment(client, server, { seq: 1000 }) },
  ];
}

/** An IPv4 packet as it arrives after `routers` routers: its TTL down from 64 that many, the header checksum made again. */
export function afterRouters(packet: Buffer, routers: number): Buffer {
  const p = Buffer.from(packet);
  p[8] = 64 - routers;
  p.writeUInt16BE(0, 10);
  const hdr = (p[0]! & 0xf) * 4;
  let sum = 0;
  for (let i = 0; i < hdr; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  return p;
}
