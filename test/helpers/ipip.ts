// Real IPIP frames without an ipip module: a raw socket of protocol 4
// (socket(AF_INET, SOCK_RAW, IPPROTO_IPIP)) in a namespace, as IPVS's tunnel
// mode would send them to a realserver. The kernel adds the outer IPv4 header
// (source from the route, DF set: raw sockets do Path MTU Discovery); the
// script writes the inner IPv4 header and TCP segment itself. Bounded in
// count and time; the socket stays open `holdSeconds` after the last packet
// so an ICMP error about them still finds it (raw_icmp_error: a
// frag-needed then teaches the sending kernel the tunnel's path MTU).

import type { NetLab } from '../../src/lab/netlab.js';

export interface IpipPacket {
  /** Inner addresses and ports (a client and a service address, as the load balancer forwards them). */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** A SYN with this MSS option; absent: an ACK carrying `payload` bytes. */
  mss?: number;
  payload?: number;
}

const IPIP_PY = String.raw`
import json, socket, struct, sys, time
tunnel_dst, hold = sys.argv[1], float(sys.argv[2])
packets = json.loads(sys.argv[3])
a4 = socket.inet_aton
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def segment(p):
    if 'mss' in p:
        opts, flags, data = struct.pack('!BBH', 2, 4, p['mss']) + b'\x01\x01\x04\x02', 0x02, b''
    else:
        opts, flags, data = b'', 0x10, b'\0' * p.get('payload', 0)
    h = struct.pack('!HHIIBBHHH', p['sport'], p['dport'], 1000, 0 if flags == 0x02 else 2000, (20 + len(opts)) // 4 << 4, flags, 65535, 0, 0) + opts
    seg = h + data
    pseudo = a4(p['src']) + a4(p['dst']) + struct.pack('!BBH', 0, 6, len(seg))
    c = csum(pseudo + seg)
    return seg[:16] + struct.pack('!H', c) + seg[18:]
def inner(p):
    seg = segment(p)
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0, a4(p['src']), a4(p['dst']))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + seg
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
sent, refused = 0, 0
start = time.monotonic()
for p in packets[:64]:
    if time.monotonic() - start > 10: break
    try:
        s.sendto(inner(p), (tunnel_dst, 0))
        sent += 1
    except OSError as e:
        refused += 1
    time.sleep(0.05)
time.sleep(min(hold, 5))
print(json.dumps({'sent': sent, 'refused': refused}))
`;

/** Sends the packets (at most 64, 50 ms apart, within 10 s) from `ns` through an IPIP tunnel to `tunnelDst`. */
export async function sendIpip(lab: NetLab, ns: string, tunnelDst: string, packets: IpipPacket[], holdSeconds = 1): Promise<{ sent: number; refused: number }> {
  const r = await lab.exec(ns, ['python3', '-c', IPIP_PY, tunnelDst, String(holdSeconds), JSON.stringify(packets)], { check: true, timeoutMs: 20_000 });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { sent: number; refused: number };
}
