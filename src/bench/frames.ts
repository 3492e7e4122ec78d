// The frames the benchmark feeds the tc program (BPF_PROG_TEST_RUN), from
// the Ethernet header on, with real lengths and checksums: what a bulk
// transfer, a connection setup and a router's PTB look like on the wire.
// (test/helpers/packets.ts builds arbitrary frames for the tests; these are
// the few fixed shapes a benchmark needs, in the compiled tree.)

export interface BenchFrame {
  /** Stable key, used in the JSON output. */
  id: string;
  label: string;
  /** Whether the tc program reports an event for it on every run. */
  emits: boolean;
  frame: Buffer;
}

/** The hop a PTB comes from: what the event consumers look for. */
export const PTB_HOP_V4 = '198.19.0.1';

const HOST_A = '198.18.0.2';
const HOST_B = '198.18.1.2';
const HOP_V6 = '2001:db8:ff::1';
const TUNNEL_A = '198.18.40.1';
const TUNNEL_B = '198.18.40.2';
const HOST_A6 = '2001:db8::2';
const HOST_B6 = '2001:db8:1::2';

function v4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

/** Only the forms used here: full groups around one '::'. */
function v6(addr: string): Buffer {
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function checksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeader(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  if (src.length === 4) {
    const p = Buffer.alloc(12);
    src.copy(p, 0);
    dst.copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

function ip(src: string, dst: string, proto: number, payload: Buffer): Buffer {
  if (src.includes(':')) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(payload.length, 4);
    h[6] = proto;
    h[7] = 64;
    v6(src).copy(h, 8);
    v6(dst).copy(h, 24);
    return Buffer.concat([h, payload]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(0x4000, 6); // DF: PMTUD traffic
  h[8] = 64;
  h[9] = proto;
  v4(src).copy(h, 12);
  v4(dst).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

function addrs(src: string, dst: string): [Buffer, Buffer] {
  return src.includes(':') ? [v6(src), v6(dst)] : [v4(src), v4(dst)];
}

function tcp(src: string, dst: string, o: { syn?: boolean; mss?: number; payload?: number; sport?: number }): Buffer {
  // A SYN carries MSS, NOP NOP, SACK-permitted, as Linux sends it.
  const opts = o.mss ? Buffer.from([2, 4, o.mss >> 8, o.mss & 0xff, 1, 1, 4, 2]) : Buffer.alloc(0);
  const seg = Buffer.alloc(20 + opts.length + (o.payload ?? 0), 0x61);
  seg.writeUInt16BE(o.sport ?? 40000, 0);
  seg.writeUInt16BE(5201, 2);
  seg.writeUInt32BE(1000, 4);
  seg.writeUInt32BE(o.syn ? 0 : 2000, 8);
  seg[12] = ((20 + opts.length) / 4) << 4;
  seg[13] = o.syn ? 0x02 : 0x10;
  seg.writeUInt16BE(65535, 14);
  seg.writeUInt16BE(0, 16);
  seg.writeUInt16BE(0, 18);
  opts.copy(seg, 20);
  const [s, d] = addrs(src, dst);
  seg.writeUInt16BE(checksum(pseudoHeader(s, d, 6, seg.length), seg), 16);
  return seg;
}

/** A router's PTB to `to` advertising `mtu`, quoting as much of the too-big packet as ICMP allows. */
function ptb(hop: string, to: string, far: string, mtu: number): Buffer {
  const six = hop.includes(':');
  const quoteMax = six ? 1280 - 48 : 576 - 28; // RFC 4443 / RFC 1812 limits
  // Another connection than the other frames': a PTB puts its flow in trouble, and a flow in
  // trouble reports its SYNs (which would make the SYN frames measure an event each).
  const big = ip(to, far, 6, tcp(to, far, { payload: 8000, sport: 40001 })).subarray(0, quoteMax);
  const msg = Buffer.concat([Buffer.alloc(8), big]);
  if (six) {
    msg[0] = 2;
    msg.writeUInt32BE(mtu, 4);
    const [s, d] = addrs(hop, to);
    msg.writeUInt16BE(checksum(pseudoHeader(s, d, 58, msg.length), msg), 2);
    return ip(hop, to, 58, msg);
  }
  msg[0] = 3;
  msg[1] = 4;
  msg.writeUInt16BE(mtu, 6);
  msg.writeUInt16BE(checksum(msg), 2);
  return ip(hop, to, 1, msg);
}

function ether(packet: Buffer): Buffer {
  const h = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0]);
  h.writeUInt16BE(packet[0]! >> 4 === 6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([h, packet]);
}

/** Full-size data segments (1500 bytes), bare ACKs, SYNs, and PTBs as routers send them, IPv4 and IPv6; an IPIP ACK and data segment. */
export function benchFrames(): BenchFrame[] {
  return [
    { id: 'ack4', label: 'IPv4 TCP ACK, 40 B', emits: false, frame: ether(ip(HOST_A, HOST_B, 6, tcp(HOST_A, HOST_B, {}))) },
    { id: 'ack6', label: 'IPv6 TCP ACK, 60 B', emits: false, frame: ether(ip(HOST_A6, HOST_B6, 6, tcp(HOST_A6, HOST_B6, {}))) },
    { id: 'tcp4', label: 'IPv4 TCP data, 1500 B, DF', emits: false, frame: ether(ip(HOST_A, HOST_B, 6, tcp(HOST_A, HOST_B, { payload: 1460 }))) },
    { id: 'tcp6', label: 'IPv6 TCP data, 1500 B', emits: false, frame: ether(ip(HOST_A6, HOST_B6, 6, tcp(HOST_A6, HOST_B6, { payload: 1440 }))) },
    { id: 'syn4', label: 'IPv4 SYN, MSS 1460', emits: false, frame: ether(ip(HOST_A, HOST_B, 6, tcp(HOST_A, HOST_B, { syn: true, mss: 1460 }))) },
    { id: 'syn6', label: 'IPv6 SYN, MSS 1440', emits: false, frame: ether(ip(HOST_A6, HOST_B6, 6, tcp(HOST_A6, HOST_B6, { syn: true, mss: 1440 }))) },
    { id: 'ptb4', label: 'IPv4 frag-needed, 576 B', emits: true, frame: ether(ptb(PTB_HOP_V4, HOST_A, HOST_B, 1400)) },
    { id: 'ptb6', label: 'IPv6 Packet Too Big, 1280 B', emits: true, frame: ether(ptb(HOP_V6, HOST_A6, HOST_B6, 1400)) },
    // Inside a tunnel (IPVS's IPIP to a realserver): the slow path that reads through the one parser.
    { id: 'ipipack4', label: 'IPIP TCP ACK, 60 B', emits: false, frame: ether(ip(TUNNEL_A, TUNNEL_B, 4, ip(HOST_A, HOST_B, 6, tcp(HOST_A, HOST_B, { sport: 40002 })))) },
    { id: 'ipiptcp4', label: 'IPIP TCP data, 1500 B, DF', emits: false, frame: ether(ip(TUNNEL_A, TUNNEL_B, 4, ip(HOST_A, HOST_B, 6, tcp(HOST_A, HOST_B, { payload: 1440, sport: 40002 })))) },
  ];
}

/** The frame the event pipeline is driven with: one PTB event per run. */
export function ptbFrame(): Buffer {
  return ether(ptb(PTB_HOP_V4, HOST_A, HOST_B, 1400));
}
