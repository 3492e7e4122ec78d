// The bytes a probe sends and what an answer means: ICMP echo requests, UDP
// datagrams and TCP SYNs of a given size (the whole IP packet), each carrying
// the probe's number, and the reading of what came back to the socket
// (native ProbeSocket) as an Answer the search understands.

import type { ProbeProto } from '../contract/probe.js';
import type { ProbeReceipt } from '../../native/index.js';

export type Family = 4 | 6;

/** Bytes of the IP header and the probe's own L4 header. */
export function headerBytes(family: Family, proto: ProbeProto): number {
  return (family === 4 ? 20 : 40) + (proto === 'tcp' ? 20 : 8);
}

/** The IP protocol number of a probe, as the observers report the packet an error quotes. */
export function protoNumber(family: Family, proto: ProbeProto): number {
  if (proto === 'icmp') return family === 4 ? 1 : 58;
  return proto === 'tcp' ? 6 : 17;
}

/** The smallest size any link must carry: IPv4's 576 (RFC 791, 1122), IPv6's 1280 (RFC 8200). */
export function minimumSize(family: Family): number {
  return family === 4 ? 576 : 1280;
}

/** What marks a UDP probe's payload as ours (then the probe's number). */
const MARK = Buffer.from('pmtu');

function checksum(parts: Buffer[]): number {
  let sum = 0;
  for (const b of parts) {
    for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
    if (b.length % 2) sum += b[b.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function v4Bytes(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

export interface ProbeIds {
  family: Family;
  proto: ProbeProto;
  /** ICMP echo identifier, or the TCP source port. */
  id: number;
  /** TCP/UDP destination port. */
  port: number;
  src: string;
  dst: string;
}

/** What to hand the socket for probe `seq` of `size` bytes (the IP packet). */
export function probeBytes(ids: ProbeIds, seq: number, size: number): Buffer {
  const l4 = size - (ids.family === 4 ? 20 : 40);
  if (ids.proto === 'udp') {
    const payload = Buffer.alloc(l4 - 8);
    MARK.copy(payload, 0);
    payload.writeUInt16BE(seq & 0xffff, 4);
    return payload;
  }
  const b = Buffer.alloc(l4);
  if (ids.proto === 'icmp') {
    b[0] = ids.family === 4 ? 8 : 128; // echo request
    b.writeUInt16BE(ids.id, 4);
    b.writeUInt16BE(seq & 0xffff, 6);
    // ICMPv6's checksum is the kernel's (it covers a pseudo-header).
    if (ids.family === 4) b.writeUInt16BE(checksum([b]), 2);
    return b;
  }
  // A SYN carrying padding: a listener answers SYN-ACK (the data is not taken without a TFO cookie), a closed port RST.
  b.writeUInt16BE(ids.id, 0);
  b.writeUInt16BE(ids.port, 2);
  b.writeUInt32BE(((ids.id << 16) | (seq & 0xffff)) >>> 0, 4);
  b[12] = 5 << 4;
  b[13] = 0x02;
  b.writeUInt16BE(1024, 14);
  if (ids.family === 4) {
    const pseudo = Buffer.alloc(12);
    v4Bytes(ids.src).copy(pseudo, 0);
    v4Bytes(ids.dst).copy(pseudo, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(l4, 10);
    b.writeUInt16BE(checksum([pseudo, b]), 16);
  }
  return b;
}

/** What a probe got back, as the search sees it. */
export type Answer =
  | { kind: 'reply'; from: string; rttMs: number }
  | { kind: 'time-exceeded'; from: string; rttMs: number }
  | { kind: 'too-big'; from: string; mtu: number; rttMs: number }
  | { kind: 'unreachable'; from: string; rttMs: number }
  | {
      kind: 'none';
      /** An answer this host received and dropped before the socket (the observers saw it), if any. */
      seen?: SeenAnswer;
    }
  /** The socket refused to send (EMSGSIZE: larger than the device). */
  | { kind: 'local'; errno: number };

export interface SeenAnswer {
  kind: 'time-exceeded' | 'too-big' | 'unreachable';
  from: string;
  mtu?: number;
  /** rp_filter, firewall, another drop reason in lower case, or not-seen (arrived, then neither delivered nor dropped). */
  fate: string;
  iface: string;
}

/** The probe number a receipt is about, if it is about one of ours (undefined otherwise). */
export function receiptSeq(ids: ProbeIds, r: ProbeReceipt): number | undefined {
  let d = r.data;
  if (r.error) {
    // The quoted packet: from its L4 header (raw sockets), from its payload (UDP).
    if (ids.proto === 'udp') return d.length >= 6 && d.subarray(0, 4).equals(MARK) ? d.readUInt16BE(4) : undefined;
    if (ids.proto === 'icmp') return d.length >= 8 && d[0] === (ids.family === 4 ? 8 : 128) && d.readUInt16BE(4) === ids.id ? d.readUInt16BE(6) : undefined;
    return d.length >= 8 && d.readUInt16BE(0) === ids.id && d.readUInt16BE(2) === ids.port ? d.readUInt16BE(6) : undefined;
  }
  if (ids.family === 4 && ids.proto !== 'udp') {
    if (d.length < 20) return undefined;
    d = d.subarray((d[0]! & 15) * 4);
  }
  if (ids.proto === 'udp') return -1; // a datagram from dst:port (the socket is connected): an answer to the latest probe
  if (ids.proto === 'icmp') return d.length >= 8 && d[0] === (ids.family === 4 ? 0 : 129) && d.readUInt16BE(4) === ids.id ? d.readUInt16BE(6) : undefined;
  // TCP: a SYN-ACK or RST from dst:port to our port; its ack is our sequence number plus one (plus the padding, for some RSTs).
  if (d.length < 20 || d.readUInt16BE(0) !== ids.port || d.readUInt16BE(2) !== ids.id) return undefined;
  const flags = d[13]!;
  if (!(flags & 0x04) && (flags & 0x12) !== 0x12) return undefined;
  return -1;
}

/** A receipt about a probe, as an answer (rtt from the probe's send time on the same clock). */
export function answerOf(ids: ProbeIds, r: ProbeReceipt, sentUs: number): Answer | undefined {
  const rttMs = Math.max(0, Math.round((r.tsUs - sentUs) / 10) / 100);
  if (!r.error) return { kind: 'reply', from: r.from || ids.dst, rttMs };
  const origin = ids.family === 4 ? 2 : 3;
  if (r.origin !== origin) return undefined; // a local error (EMSGSIZE): send() said so already
  const from = r.from;
  if (ids.family === 4) {
    if (r.type === 11) return { kind: 'time-exceeded', from, rttMs };
    if (r.type === 3 && r.code === 4) return { kind: 'too-big', from, mtu: r.info, rttMs };
    // Port unreachable from dst itself: the probe got there (UDP's usual answer, RFC 1122).
    if (r.type === 3 && r.code === 3 && from === ids.dst) return { kind: 'reply', from, rttMs };
    if (r.type === 3) return { kind: 'unreachable', from, rttMs };
    return undefined;
  }
  if (r.type === 3) return { kind: 'time-exceeded', from, rttMs };
  if (r.type === 2) return { kind: 'too-big', from, mtu: r.info, rttMs };
  if (r.type === 1 && r.code === 4 && from === ids.dst) return { kind: 'reply', from, rttMs };
  if (r.type === 1) return { kind: 'unreachable', from, rttMs };
  return undefined;
}
