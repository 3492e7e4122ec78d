// The tc program against hostile frames, through BPF_PROG_TEST_RUN: well over
// 100k of them, seeded and reproducible — well-formed PTBs, SYNs and DF
// packets, each of some cut at every offset, then random mixes of bogus IHLs,
// IPv6 extension-header chains, ICMP errors quoting ICMP errors, fragments,
// VLAN in VLAN, tunnels (IPIP, sit, ip6ip6, ip4ip6, GRE with its options,
// GRETAP, VXLAN, Geneve with options; whole, cut, nested, quoted by PTBs,
// with lying headers), flipped bits and plain noise. Every frame must pass unchanged
// (TC_ACT_UNSPEC, the same bytes out), and the events, in order, must be
// exactly what the rules (src/packet/tc-rules.ts, through test/helpers/tc-reference.ts)
// computes from the bytes: no event it does not expect, none missing, every
// field equal.

import { createRequire } from 'node:module';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { ADDON_PATH, type NativeAddon } from '../../src/observer/addon.js';
import { decodeBatch } from '../../src/observer/decode.js';
import type { PmtuEvent } from '../../src/observer/events.js';
import type { Observer as NativeObserver } from '../../native/index.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { ether, geneve, gre, icmpFragNeeded, icmpv6PacketTooBig, innerEther, ipv4, ipv6, tcp, udp, vxlan, PROTO } from '../helpers/packets.js';
import { TcReference, type ExpectedEvent } from '../helpers/tc-reference.js';

const TC_ACT_UNSPEC = -1;
const SEED = Number(process.env.PMTU_FUZZ_SEED ?? 0x504d5455);
const RANDOM_FRAMES = 100_000;
const CHUNK = 2000;
/** BPF_PROG_TEST_RUN takes a frame of at most a page less the skb's overhead (3712 bytes here). */
const MAX_FRAME = 3000;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  addr4(): string {
    return this.pick([`198.18.${this.int(4)}.${1 + this.int(3)}`, `198.19.0.${1 + this.int(2)}`, `${1 + this.int(223)}.${this.int(256)}.${this.int(256)}.${this.int(256)}`]);
  }
  addr6(): string {
    return this.pick(['2001:db8:1::2', '2001:db8:3::2', `2001:db8:${this.int(0x10000).toString(16)}::${(1 + this.int(0xffff)).toString(16)}`, '::ffff:198.18.1.2', '2001:db8::']);
  }
  port(): number {
    return this.pick([443, 80, 4789, 53, 1 + this.int(65535), 0]);
  }
}

// ---------------------------------------------------------------------------
// Frames beyond test/helpers/packets.ts: IPv6 extension headers, raw TCP
// options, any ICMP error, any tag stack.

/** An IPv6 extension header of (units+1)*8 bytes (hop-by-hop 0, routing 43, destination options 60). */
function ext6(type: number, next: number, units: number): Buffer {
  const h = Buffer.alloc((units + 1) * 8);
  h[0] = next;
  h[1] = units;
  if (type !== 43) h.fill(0, 2); // Pad1s
  else h[2] = 0; // routing type 0, segments left 0
  return h;
}

/** An IPv6 fragment header. */
function frag6(next: number, offset: number, more: boolean): Buffer {
  const h = Buffer.alloc(8);
  h[0] = next;
  h.writeUInt16BE(((offset & 0x1fff) << 3) | (more ? 1 : 0), 2);
  h.writeUInt32BE(0xcafe, 4);
  return h;
}

/** IPv6 with a chain of extension headers in front of an L4 payload. */
function ipv6Chain(g: Gen, src: string, dst: string, l4proto: number, l4: Buffer, maxHeaders = 5): Buffer {
  const types: number[] = [];
  const n = g.int(maxHeaders + 1);
  for (let i = 0; i < n; i++) types.push(g.pick([0, 43, 60, 44, 60]));
  let next = l4proto;
  let payload = l4;
  for (let i = types.length - 1; i >= 0; i--) {
    const t = types[i]!;
    const h = t === 44 ? frag6(next, g.chance(0.7) ? 0 : 1 + g.int(100), g.chance(0.5)) : ext6(t, next, g.pick([0, 0, 1, 2, 5, 9, 12, 20, 30]));
    payload = Buffer.concat([h, payload]);
    next = t;
  }
  return ipv6({ src, dst, next, payload });
}

function tcpRaw(g: Gen, o: { sport: number; dport: number; flags: number; options?: Buffer; doff?: number; payload?: Buffer }): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const padded = Buffer.concat([opts, Buffer.alloc((4 - (opts.length % 4)) % 4)]);
  const h = Buffer.alloc(20 + padded.length);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt32BE(g.int(2 ** 32), 4);
  h[12] = (o.doff ?? (20 + padded.length) / 4) << 4;
  h[13] = o.flags;
  padded.copy(h, 20);
  return Buffer.concat([h, o.payload ?? Buffer.alloc(0)]);
}

function tcpOptions(g: Gen): Buffer {
  const parts: Buffer[] = [];
  const n = g.int(6);
  for (let i = 0; i < n; i++) {
    parts.push(
      g.pick([
        Buffer.from([2, 4, g.int(256), g.int(256)]), // MSS
        Buffer.from([1]), // NOP
        Buffer.from([4, 2]), // SACK permitted
        Buffer.from([3, 3, 7]), // window scale
        Buffer.from([8, 10, ...g.bytes(8)]), // timestamps
        Buffer.from([2, g.pick([0, 1, 3, 5, 40]), 5, 180]), // an MSS with a bogus length
        Buffer.from([g.int(256), g.int(5)]), // anything
        Buffer.from([0]), // end of options
      ]),
    );
  }
  return Buffer.concat(parts).subarray(0, 40);
}

function icmpError(type: number, code: number, rest: number, quoted: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  h.writeUInt32BE(rest >>> 0, 4);
  return Buffer.concat([h, quoted]);
}

/** Ethernet with any stack of tags (outermost first) and any type after them. */
function etherTags(packet: Buffer, tags: { tpid: number; vid: number }[], type?: number): Buffer {
  const inner = ether(packet);
  const h = Buffer.alloc(12 + tags.length * 4);
  inner.copy(h, 0, 0, 12);
  tags.forEach((t, i) => {
    h.writeUInt16BE(t.tpid, 12 + i * 4);
    h.writeUInt16BE(t.vid, 14 + i * 4);
  });
  const tail = Buffer.from(inner.subarray(12));
  if (type !== undefined) tail.writeUInt16BE(type, 0);
  return Buffer.concat([h, tail]);
}

// ---------------------------------------------------------------------------
// Packets: what hosts and routers really send, with the knobs turned.

type Family = 4 | 6;

/** A packet a host sends: TCP (maybe a SYN), UDP, ICMP echo, SCTP, or an ICMP error itself. */
function hostPacket(g: Gen, family: Family, depth = 0): Buffer {
  const src = family === 4 ? g.addr4() : g.addr6();
  const dst = family === 4 ? g.addr4() : g.addr6();
  const size = g.pick([0, 8, 100, 1200, 1400, 2800]);
  const which = g.int(depth < 2 ? 6 : 5);
  let proto: number;
  let l4: Buffer;
  switch (which) {
    case 0:
      proto = PROTO.tcp;
      l4 = tcp({ src, dst, sport: g.port(), dport: g.port(), syn: g.chance(0.3), ack: g.chance(0.5), ...(g.chance(0.5) ? { mss: g.int(65536) } : {}), payload: Buffer.alloc(size) });
      break;
    case 1:
      proto = PROTO.udp;
      l4 = udp({ src, dst, sport: g.port(), dport: g.port(), payload: Buffer.alloc(size) });
      break;
    case 2:
      proto = family === 4 ? PROTO.icmp : PROTO.icmpv6;
      l4 = Buffer.concat([Buffer.from(family === 4 ? [8, 0, 0, 0, 0, 1, 0, 1] : [128, 0, 0, 0, 0, 1, 0, 1]), Buffer.alloc(size)]);
      break;
    case 3:
      proto = 132; // SCTP: ports too
      l4 = Buffer.concat([Buffer.from([0x13, 0x88, 0x0b, 0xb8]), g.bytes(8 + (size % 64))]);
      break;
    case 4:
      proto = g.pick([47, 50, 2, 255]); // GRE, ESP, IGMP, reserved: no ports
      l4 = g.bytes(16 + (size % 64));
      break;
    default:
      // An ICMP error quoting an ICMP error (a PTB about a PTB, a time-exceeded about an unreachable).
      return errorPacket(g, family, depth + 1);
  }
  if (family === 4) {
    return ipv4({ src, dst, proto, payload: l4, df: g.chance(0.7), optionBytes: g.pick([0, 0, 0, 4, 12, 40]) });
  }
  return ipv6Chain(g, src, dst, proto, l4, 2);
}

/** An ICMP error from a router about a packet of a host: frag-needed / PTB most of the time, others too. */
function errorPacket(g: Gen, family: Family, depth = 0): Buffer {
  const router = family === 4 ? g.addr4() : g.addr6();
  const host = family === 4 ? g.addr4() : g.addr6();
  const quotedFamily: Family = g.chance(0.9) ? family : family === 4 ? 6 : 4;
  // A quoted tunnel's packet too (a router between a load balancer and its realservers), its source often the PTB's destination.
  const full = depth < 2 && g.chance(0.25) ? tunnelPacket(g, quotedFamily, depth + 1, quotedFamily === family && g.chance(0.6) ? host : undefined) : hostPacket(g, quotedFamily, depth);
  const quoteLen = g.pick([20, 28, 40, 48, 68, 548, 1232, full.length]);
  const quoted = full.subarray(0, Math.min(quoteLen, full.length));
  if (family === 4) {
    const ptb = g.chance(0.7);
    const [type, code] = ptb ? [3, 4] : g.pick([[3, 1], [3, 3], [11, 0], [12, 0], [5, 1], [4, 0], [0, 0], [8, 0]] as const);
    const mtu = g.pick([0, 68, 576, 1280, 1400, 1500, 9000, 65535]);
    const icmp = ptb ? icmpFragNeeded(mtu, quoted) : icmpError(type, code, 0, quoted);
    return ipv4({ src: router, dst: host, proto: PROTO.icmp, payload: icmp, df: g.chance(0.2), optionBytes: g.pick([0, 0, 8, 40]) });
  }
  const ptb = g.chance(0.7);
  const mtu = g.pick([0, 1280, 1400, 1500, 9000, 0xffffffff]);
  const icmp = ptb ? icmpv6PacketTooBig(router, host, mtu, quoted) : icmpError(g.pick([1, 3, 4, 128, 135]), g.int(4), g.int(2 ** 32), quoted);
  return ipv6Chain(g, router, host, PROTO.icmpv6, icmp, 3);
}

/** A DF (or not) packet big enough to count for a flow's largest size, from a small set of flows. */
function bigPacket(g: Gen, family: Family): Buffer {
  const flows = 40; // keeps the program's per-flow map, and the reference's, small
  const f = g.int(flows);
  const src = family === 4 ? `198.18.9.${f}` : `2001:db8:9::${f.toString(16)}`;
  const dst = family === 4 ? '198.18.8.1' : '2001:db8:8::1';
  const size = 1100 + g.int(MAX_FRAME - 1200);
  const payload = Buffer.alloc(size);
  if (g.chance(0.5)) {
    const l4 = udp({ src, dst, sport: 5000 + (f % 4), dport: 6000, payload });
    return family === 4 ? ipv4({ src, dst, proto: PROTO.udp, payload: l4, df: g.chance(0.8) }) : ipv6Chain(g, src, dst, PROTO.udp, l4, 1);
  }
  const l4 = tcpRaw(g, { sport: 40000 + (f % 4), dport: 443, flags: 0x10, payload });
  return family === 4 ? ipv4({ src, dst, proto: PROTO.tcp, payload: l4, df: g.chance(0.8) }) : ipv6Chain(g, src, dst, PROTO.tcp, l4, 1);
}

/** A SYN or SYN-ACK with options that may lie. */
function synPacket(g: Gen, family: Family): Buffer {
  const src = family === 4 ? g.addr4() : g.addr6();
  const dst = family === 4 ? g.addr4() : g.addr6();
  const options = tcpOptions(g);
  const doff = g.chance(0.15) ? g.int(16) : undefined;
  const l4 = tcpRaw(g, { sport: g.port(), dport: g.port(), flags: 0x02 | (g.chance(0.4) ? 0x10 : 0) | (g.chance(0.05) ? 0x01 : 0), options, ...(doff !== undefined ? { doff } : {}) });
  return family === 4 ? ipv4({ src, dst, proto: PROTO.tcp, payload: l4, df: true, optionBytes: g.pick([0, 0, 4, 40]) }) : ipv6Chain(g, src, dst, PROTO.tcp, l4, 4);
}

/** A later fragment (no L4 header) or a first one. */
function fragmentPacket(g: Gen, family: Family): Buffer {
  const inner = g.chance(0.5) ? errorPacket(g, family) : synPacket(g, family);
  if (family === 4) {
    const p = Buffer.from(inner);
    p.writeUInt16BE((p.readUInt16BE(6) & 0x4000) | (g.chance(0.5) ? 0x2000 : 0) | (g.chance(0.6) ? 1 + g.int(0x1fff) : 0), 6);
    return p;
  }
  const src = g.addr6();
  const dst = g.addr6();
  const l4 = inner.subarray(40);
  return ipv6({ src, dst, next: 44, payload: Buffer.concat([frag6(inner[6]!, g.chance(0.5) ? 0 : 1 + g.int(100), g.chance(0.5)), l4]) });
}

/**
 * A packet inside a tunnel (one level; sometimes a tunnel in a tunnel, which
 * the program follows one level only), with the header lying now and then:
 * the wrong inner version, a GRE version or routing bit, VXLAN without its I
 * flag, an inner Ethernet type that is no IP, Geneve options of any length.
 */
function tunnelPacket(g: Gen, family: Family, depth = 0, src = family === 4 ? g.addr4() : g.addr6()): Buffer {
  const dst = family === 4 ? g.addr4() : g.addr6();
  const innerFamily: Family = g.chance(0.6) ? 4 : 6;
  const which = g.int(depth < 1 ? 6 : 5);
  const inner = which === 0 ? synPacket(g, innerFamily) : which === 1 ? bigPacket(g, innerFamily) : which === 2 ? errorPacket(g, innerFamily, depth + 1) : which === 5 ? tunnelPacket(g, innerFamily, depth + 1) : hostPacket(g, innerFamily, 2);
  const eth = (p: Buffer) => {
    const f = innerEther(p);
    if (g.chance(0.08)) f.writeUInt16BE(g.pick([0x0806, 0x8100, 0x0800, 0x86dd, g.int(0x10000)]), 12);
    return f;
  };
  let proto: number;
  let payload: Buffer;
  switch (g.int(5)) {
    case 0: {
      // IPIP / sit / ip6ip6 / ip4ip6, the protocol now and then not the inner version's.
      const right = innerFamily === 4 ? 4 : 41;
      proto = g.chance(0.9) ? right : right === 4 ? 41 : 4;
      payload = inner;
      break;
    }
    case 1: {
      const tap = g.chance(0.3);
      const protocol = tap ? 0x6558 : g.chance(0.9) ? (innerFamily === 4 ? 0x0800 : 0x86dd) : g.pick([0x0800, 0x86dd, 0x880b, g.int(0x10000)]);
      proto = 47;
      payload = gre({
        protocol,
        payload: tap ? eth(inner) : inner,
        ...(g.chance(0.4) ? { key: g.int(2 ** 32) } : {}),
        ...(g.chance(0.3) ? { seq: g.int(2 ** 32) } : {}),
        csum: g.chance(0.3),
        flags: g.chance(0.1) ? g.pick([0x4000, 0x0001, 0x0007, 0x0800]) : 0,
      });
      break;
    }
    case 2:
      proto = PROTO.udp;
      payload = udp({ src, dst, sport: g.port(), dport: g.pick([4789, 4789, 8472]), payload: vxlan(g.int(1 << 24), eth(inner), g.chance(0.9) ? 0x08 : g.int(256)) });
      break;
    case 3: {
      const options = g.bytes(4 * g.pick([0, 0, 1, 2, 8, 20, 63]));
      const protocol = g.chance(0.8) ? 0x6558 : g.pick([0x0800, 0x86dd, g.int(0x10000)]);
      const carried = protocol === 0x6558 ? eth(inner) : inner;
      proto = PROTO.udp;
      payload = udp({ src, dst, sport: g.port(), dport: 6081, payload: geneve(g.int(1 << 24), carried, { options, protocol, version: g.chance(0.95) ? 0 : 1 + g.int(3) }) });
      break;
    }
    default:
      // Noise where a tunnel header should be.
      proto = g.pick([4, 41, 47]);
      payload = g.bytes(g.int(120));
  }
  if (family === 4) return ipv4({ src, dst, proto, payload, df: g.chance(0.8), optionBytes: g.pick([0, 0, 0, 8]) });
  return ipv6Chain(g, src, dst, proto, payload, 1);
}

function packet(g: Gen): Buffer {
  const family: Family = g.chance(0.55) ? 4 : 6;
  if (g.chance(0.2)) return tunnelPacket(g, family);
  switch (g.int(8)) {
    case 0:
    case 1:
    case 2:
      return errorPacket(g, family);
    case 3:
    case 4:
      return synPacket(g, family);
    case 5:
      return bigPacket(g, family);
    case 6:
      return fragmentPacket(g, family);
    default:
      return hostPacket(g, family);
  }
}

function frameOf(g: Gen, p: Buffer): Buffer {
  const ethType = p[0]! >> 4 === 6 ? 0x86dd : 0x0800;
  const tagCount = g.pick([0, 0, 0, 0, 1, 2, 2, 3]);
  const tags = Array.from({ length: tagCount }, () => ({ tpid: g.pick([0x8100, 0x88a8]), vid: g.pick([0, 1, 42, 4095, g.int(0x10000)]) }));
  return etherTags(p, tags, ethType).subarray(0, MAX_FRAME);
}

/** Damage of the kinds hostile or broken senders produce. */
function mutate(g: Gen, frame: Buffer): Buffer {
  const f = Buffer.from(frame);
  const l3 = 14 + (f.readUInt16BE(12) === 0x8100 || f.readUInt16BE(12) === 0x88a8 ? 4 : 0);
  switch (g.int(9)) {
    case 0: // flipped bits in the headers
      for (let i = 0, n = 1 + g.int(8); i < n; i++) {
        const at = g.int(Math.min(f.length, 200));
        f[at] = f[at]! ^ (1 << g.int(8));
      }
      return f;
    case 1: // random bytes in the headers
      for (let i = 0, n = 1 + g.int(4); i < n; i++) f[g.int(Math.min(f.length, 160))] = g.int(256);
      return f;
    case 2: // bogus IHL / version nibble
      if (l3 < f.length) f[l3] = g.chance(0.7) ? (f[l3]! & 0xf0) | g.int(16) : g.int(256);
      return f;
    case 3: // bogus lengths (total length, payload length)
      if (l3 + 6 <= f.length) f.writeUInt16BE(g.pick([0, 1, 20, 40, 1279, 1280, 65535, g.int(65536)]), l3 + (f[l3]! >> 4 === 6 ? 4 : 2));
      return f;
    case 4: // cut anywhere
      return f.subarray(0, g.int(f.length + 1));
    case 5: // noise after a plausible Ethernet type
      return Buffer.concat([f.subarray(0, l3), g.bytes(g.int(300))]);
    case 6: // noise everywhere
      return g.bytes(g.int(400));
    case 7: // a bogus extension header length or next header somewhere in the first 120 bytes
      for (let i = 0, n = 1 + g.int(3); i < n; i++) f[l3 + 40 + g.int(80)] = g.pick([0, 43, 44, 60, 6, 58, 255, g.int(256)]);
      return f.subarray(0, f.length);
    default: // another Ethernet type
      f.writeUInt16BE(g.pick([0x0806, 0x8847, 0x0800, 0x86dd, 0x8100, 0x88a8, 0x05dc, g.int(0x10000)]), 12);
      return f;
  }
}

interface Mismatch {
  frame: number;
  dir: string;
  hex: string;
  expected: string;
  actual: string;
}

function canonical(e: ExpectedEvent | PmtuEvent | undefined): string {
  if (!e) return 'none';
  return JSON.stringify({
    kind: e.kind,
    dir: e.dir,
    flags: e.flags,
    icmpType: e.icmpType,
    icmpCode: e.icmpCode,
    mtu: e.mtu,
    len: e.len,
    mss: e.mss,
    vlan: e.vlan,
    outer: e.outer,
    inner: e.inner,
    encap: e.encap,
    snap: e.snap.toString('hex'),
  });
}

kernelDescribe(
  'tc program fuzzed through BPF_PROG_TEST_RUN',
  () => {
    let native: NativeObserver;
    const received: PmtuEvent[] = [];
    const reference = new TcReference();
    let frames = 0;
    let refused = 0;
    let events = 0;
    const outcomes = { ptb: 0, 'ptb-sent': 0, syn: 0, size: 0 } as Record<string, number>;

    beforeAll(() => {
      const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
      native = new addon.Observer({ maxQueuedBatches: 4096, everyFlow: true });
      // Only the tc program's events: it runs for nothing but these test runs
      // (it is attached nowhere), and they happen on loopback.
      native.start((records) => {
        for (const ev of decodeBatch(records).events) if (ev.dir !== null && ev.ifname === 'lo') received.push(ev);
      });
    });
    afterAll(() => {
      native?.stop();
      console.log(`[fuzz] seed 0x${SEED.toString(16)}: ${frames} frames run (${refused} refused by BPF_PROG_TEST_RUN as the reference predicted), ${events} events, ${JSON.stringify(outcomes)}`);
    });

    /**
     * Runs the frames, then a marker SYN; compares the events before the
     * marker's, in order, with the reference's. Returns the mismatches.
     */
    async function runChunk(chunk: { frame: Buffer; dir: 'ingress' | 'egress' }[], marker: number): Promise<Mismatch[]> {
      const src = '203.0.113.250';
      const dst = '203.0.113.251';
      const all = [...chunk, { frame: ether(ipv4({ src, dst, proto: PROTO.tcp, payload: tcp({ src, dst, sport: 9, dport: 1 + (marker % 65000), syn: true }) })), dir: 'ingress' as const }];
      const expected: { index: number; ev: ExpectedEvent }[] = [];
      const bad: Mismatch[] = [];
      all.forEach(({ frame, dir }, index) => {
        const outcome = reference.run(frame, dir);
        frames++;
        let ran;
        try {
          ran = native.testRun(dir, frame);
        } catch (e) {
          if ('refused' in outcome && /Invalid argument/.test((e as Error).message)) {
            refused++;
            return;
          }
          bad.push({ frame: index, dir, hex: frame.toString('hex'), expected: JSON.stringify(outcome), actual: `threw ${(e as Error).message}` });
          return;
        }
        if ('refused' in outcome) {
          bad.push({ frame: index, dir, hex: frame.toString('hex'), expected: `refused: ${outcome.refused}`, actual: 'ran' });
          return;
        }
        if (ran.retval !== TC_ACT_UNSPEC || !ran.output.equals(frame)) {
          bad.push({ frame: index, dir, hex: frame.toString('hex'), expected: 'passed unchanged', actual: `retval ${ran.retval}, ${ran.output.equals(frame) ? 'same' : 'changed'} bytes` });
        }
        if (outcome.event) expected.push({ index, ev: outcome.event });
      });
      const deadline = Date.now() + 10_000;
      const isMarker = (e: PmtuEvent) => e.kind === 'syn' && e.outer?.src === src && e.outer.dport === 1 + (marker % 65000);
      let end = -1;
      while ((end = received.findIndex(isMarker)) < 0) {
        if (Date.now() > deadline) throw new Error(`the marker of chunk ${marker} never arrived (losses ${JSON.stringify(native.losses())})`);
        await new Promise((r) => setTimeout(r, 2));
      }
      const got = received.splice(0, end + 1);
      events += got.length - 1;
      for (let i = 0; i < Math.max(got.length, expected.length); i++) {
        const want = expected[i];
        const have = got[i];
        if (canonical(want?.ev) !== canonical(have)) {
          const at = want?.index ?? expected[expected.length - 1]?.index ?? 0;
          bad.push({ frame: at, dir: all[at]!.dir, hex: all[at]!.frame.toString('hex'), expected: canonical(want?.ev), actual: canonical(have) });
          break; // after one difference the rest is out of step
        }
        if (have && have !== got[got.length - 1]) {
          outcomes[have.kind] = (outcomes[have.kind] ?? 0) + 1;
          if (have.encap) outcomes[have.encap.quoted ? 'quoted-tunnel' : `in-${have.encap.type}`] = (outcomes[have.encap.quoted ? 'quoted-tunnel' : `in-${have.encap.type}`] ?? 0) + 1;
        }
      }
      return bad;
    }

    it('cut at every offset: well-formed PTBs, SYNs and DF packets pass unchanged and report exactly what the reference reads', async () => {
      const g = new Gen(SEED);
      const frames: { frame: Buffer; dir: 'ingress' | 'egress' }[] = [];
      for (let t = 0; t < 48; t++) {
        const family: Family = t % 2 ? 6 : 4;
        const p = t % 4 < 2 ? errorPacket(g, family) : t % 8 < 6 ? synPacket(g, family) : t % 16 < 12 ? bigPacket(g, family) : tunnelPacket(g, family);
        const full = frameOf(g, p).subarray(0, 700);
        const dir = g.chance(0.5) ? 'ingress' : 'egress';
        for (let n = 0; n <= full.length; n++) frames.push({ frame: Buffer.from(full.subarray(0, n)), dir });
      }
      const bad: Mismatch[] = [];
      for (let i = 0; i < frames.length && bad.length < 5; i += CHUNK) bad.push(...(await runChunk(frames.slice(i, i + CHUNK), i / CHUNK)));
      expect(bad).toEqual([]);
      expect(frames.length).toBeGreaterThan(10_000);
    });

    it(`${RANDOM_FRAMES} random frames: bogus IHLs, extension chains, ICMP in ICMP, fragments, VLAN in VLAN, flipped bits, noise`, async () => {
      const g = new Gen(SEED + 1);
      const bad: Mismatch[] = [];
      for (let done = 0; done < RANDOM_FRAMES && bad.length < 5; done += CHUNK) {
        const chunk: { frame: Buffer; dir: 'ingress' | 'egress' }[] = [];
        for (let i = 0; i < CHUNK; i++) {
          const frame = frameOf(g, packet(g));
          chunk.push({ frame: g.chance(0.45) ? mutate(g, frame) : frame, dir: g.chance(0.5) ? 'ingress' : 'egress' });
        }
        bad.push(...(await runChunk(chunk, 1000 + done / CHUNK)));
      }
      expect(bad).toEqual([]);
      // The mix really exercises every kind of report (a fuzzer that only makes noise proves little).
      for (const kind of ['ptb', 'ptb-sent', 'syn', 'size']) expect(outcomes[kind]).toBeGreaterThan(500);
      // ... and every tunnel, its own packet's and quoted ones.
      for (const kind of ['in-ipip', 'in-sit', 'in-ip6ip6', 'in-ip4ip6', 'in-gre', 'in-gretap', 'in-vxlan', 'in-geneve', 'quoted-tunnel']) expect(outcomes[kind], kind).toBeGreaterThan(20);
      expect(reference.trackedFlows).toBeLessThan(20_000); // far from the map's 65536: no LRU eviction to model
    });

    it('lost nothing on the way', () => {
      const l = native.losses();
      expect(l.ringbufFull).toBe(0);
      expect(l.queueFull).toBe(0);
      expect(l.flowTableFull).toBe(0);
      expect(frames).toBeGreaterThan(110_000);
    });
  },
  { requires: [needBtf, needAddon] },
);
