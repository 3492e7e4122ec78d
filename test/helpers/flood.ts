// A spoofed PTB flood for kernel tests: a raw socket in a namespace sends
// frag-needed (IPv4) and Packet Too Big (IPv6) messages to a victim, each
// quoting a random flow, and now and then a genuine one about the victim's
// own DF ping (ICMP echo, 1428 bytes, to the attacker's address). Bounded in
// count and time; it reports what it sent.

import type { NetLab } from '../../src/lab/netlab.js';

export interface FloodOptions {
  victim4: string;
  attacker4: string;
  victim6: string;
  attacker6: string;
  seconds: number;
  maxPackets: number;
  /** One genuine PTB every this many (the first one is genuine). */
  genuineEvery: number;
}

export interface FloodResult {
  v4: number;
  v6: number;
  genuine: number;
  /** Sends the attacker's own socket refused (buffer full). */
  dropped: number;
  seconds: number;
}

/**
 * The flood, bounded in count and time. Packets are made up front (20000
 * distinct quoted flows, far more than the correlator keeps aside) and sent
 * in a loop: Python makes them too slowly to send as it makes them.
 */
const FLOOD_PY = String.raw`
import json, random, socket, struct, sys, time
victim4, attacker4, victim6, attacker6 = sys.argv[1:5]
seconds, max_packets, genuine_every = float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
rnd = random.Random(7)
a4 = socket.inet_aton
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ip4(src, dst, proto, payload, df=False):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), rnd.randrange(65536), 0x4000 if df else 0, 64, proto, 0, a4(src), a4(dst))
    return h + payload
def frag_needed(router, mtu, quoted):
    icmp = struct.pack('!BBHHH', 3, 4, 0, 0, mtu) + quoted
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    return ip4(router, victim4, 1, icmp)
def rand4():
    return '%d.%d.%d.%d' % (rnd.randrange(1, 224), rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))
def spoofed4():
    proto = rnd.choice([6, 17])
    inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 1500, 0, 0x4000, 64, proto, 0, a4(rnd.choice([victim4, rand4()])), a4(rand4()))
    return frag_needed('198.19.%d.%d' % (rnd.randrange(256), rnd.randrange(1, 255)), rnd.randrange(68, 1500), inner + struct.pack('!HHI', rnd.randrange(1, 65536), rnd.randrange(1, 65536), 0))
def spoofed6():
    inner = struct.pack('!IHBB', 0x60000000, 1460, 6, 64) + socket.inet_pton(socket.AF_INET6, victim6) + socket.inet_pton(socket.AF_INET6, '2001:db8:%x::%x' % (rnd.randrange(65536), rnd.randrange(1, 65536)))
    return struct.pack('!BBHI', 2, 0, 0, rnd.randrange(1280, 1500)) + inner + struct.pack('!HHI', rnd.randrange(1, 65536), 443, 0)
# The victim's own ping (DF, 1428 bytes) as a router would quote it.
genuine = frag_needed(attacker4, 1300, struct.pack('!BBHHHBBH4s4s', 0x45, 0, 1428, 0, 0x4000, 64, 1, 0, a4(victim4), a4(attacker4)) + struct.pack('!BBHHH', 8, 0, 0, 1, 1))
pool = [(4, spoofed4()) if rnd.random() < 0.7 else (6, spoofed6()) for _ in range(20000)]
s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s4.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
sent = {'v4': 0, 'v6': 0, 'genuine': 0, 'dropped': 0}
start = time.monotonic()
n = 0
while n < max_packets and time.monotonic() - start < seconds:
    for _ in range(500):
        if n % genuine_every == 0:
            pkt, fam, key = genuine, 4, 'genuine'
        else:
            fam, pkt = pool[n % len(pool)]
            key = 'v4' if fam == 4 else 'v6'
        try:
            if fam == 4: s4.sendto(pkt, (victim4, 0))
            else: s6.sendto(pkt, (victim6, 0))
            sent[key] += 1
        except (BlockingIOError, OSError):
            sent['dropped'] += 1
        n += 1
sent['seconds'] = round(time.monotonic() - start, 3)
print(json.dumps(sent))
`;

/** A victim and an attacker namespace joined by a veth (MTU 1500), with addresses from 198.18.50.0/24 and 2001:db8:50::/64. */
export async function victimAndAttacker(lab: NetLab): Promise<{ victim: string; attacker: string; addrs: Pick<FloodOptions, 'victim4' | 'attacker4' | 'victim6' | 'attacker6'> }> {
  const victim = await lab.addNs('v');
  const attacker = await lab.addNs('x');
  await lab.veth(victim, 'eth0', attacker, 'eth0', { mtuA: 1500, mtuB: 1500 });
  const addrs = { victim4: '198.18.50.1', attacker4: '198.18.50.2', victim6: '2001:db8:50::1', attacker6: '2001:db8:50::2' };
  await lab.addr(victim, 'eth0', `${addrs.victim4}/24`);
  await lab.addr(attacker, 'eth0', `${addrs.attacker4}/24`);
  await lab.addr(victim, 'eth0', `${addrs.victim6}/64`);
  await lab.addr(attacker, 'eth0', `${addrs.attacker6}/64`);
  return { victim, attacker, addrs };
}

/** Runs the flood from `ns` (python3 there) and waits for it to end. */
export async function ptbFlood(lab: NetLab, ns: string, o: FloodOptions): Promise<FloodResult> {
  const flood = lab.spawn(ns, ['python3', '-c', FLOOD_PY, o.victim4, o.attacker4, o.victim6, o.attacker6, String(o.seconds), String(o.maxPackets), String(o.genuineEvery)]);
  const out = await flood.exited;
  if (out.code !== 0) throw new Error(`the flood failed (${out.code}): ${out.stderr.trim()}`);
  return JSON.parse(out.stdout) as FloodResult;
}
