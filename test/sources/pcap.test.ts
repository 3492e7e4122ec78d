// A foreign capture as a session's source (src/sources/pcap.ts): synthetic
// pcaps of TCP conversations through the correlator live uses, asserting on
// the events' lines and the verdicts a user would see.

import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ForeignCaptureReader, LINKTYPE } from '../../src/capture/foreign.js';
import type { EventJson, RouteEventJson, StreamEvent } from '../../src/contract/event.js';
import type { StatsJson } from '../../src/contract/stats.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { Session } from '../../src/session.js';
import { PcapSource, type PcapSourceOptions } from '../../src/sources/pcap.js';
import { hopByHop, ipv4, ipv6, PROTO, tcp } from '../helpers/packets.js';
import { epb, ethernet, idb, pcap, shb, sll2 } from '../helpers/pcap-files.js';
import { afterRouters, CLIENT, CLIENT6, data, handshake, ptb, ROUTER, ROUTER6, segment, SERVER, SERVER6, type Timed } from '../helpers/tcp-flows.js';

const T0 = 1_700_000_000; // seconds
const dir = mkdtempSync(join(tmpdir(), 'pmtu-pcap-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawPcap(items: Timed[], o: { nano?: boolean; snaplen?: number } = {}): Buffer {
  return pcap(
    { linkType: LINKTYPE.RAW, ...(o.nano ? { nano: true } : {}) },
    items.map((x) => {
      const us = Math.round(x.ms * 1000);
      const data = o.snaplen ? x.packet.subarray(0, o.snaplen) : x.packet;
      return { sec: T0 + Math.floor(us / 1e6), frac: o.nano ? (us % 1e6) * 1000 : us % 1e6, data, origLen: x.packet.length };
    }),
  );
}

/** A pcapng of one interface named `name`, directions from epb_flags. */
function pcapngOf(items: Timed[], name: string): Buffer {
  return Buffer.concat([
    shb(),
    idb({ linkType: LINKTYPE.RAW, name }),
    ...items.map((x) => epb({ ts: BigInt(T0) * 1_000_000n + BigInt(Math.round(x.ms * 1000)), data: x.packet, ...(x.dir ? { flags: x.dir === 'in' ? 1 : 2 } : {}) })),
  ]);
}

interface Run {
  events: StreamEvent[];
  verdicts: VerdictJson[];
  stats: StatsJson[];
  source: PcapSource;
  session: Session;
  of<K extends string>(kind: K): (K extends 'route' ? RouteEventJson : EventJson)[];
  final(): VerdictJson[];
}

function analyze(files: [name: string, bytes: Buffer][], opts: PcapSourceOptions = {}): Run {
  const source = new PcapSource(
    files.map(([name, bytes]) => ForeignCaptureReader.fromBuffer(bytes, name)),
    opts,
  );
  const events: StreamEvent[] = [];
  const verdicts: VerdictJson[] = [];
  const stats: StatsJson[] = [];
  const session = new Session(source, { event: (e) => events.push(e), verdict: (v) => verdicts.push(v), stats: (s) => stats.push(s) });
  source.playAll();
  session.close();
  return {
    events,
    verdicts,
    stats,
    source,
    session,
    of: (kind) => events.filter((e) => e.kind === kind) as never,
    final: () => session.correlator.verdicts(),
  };
}

/** A server sending `n` segments of `len` bytes from seq 5000, every ms from `ms`. */
function burst(ms: number, n: number, len: number, from = SERVER, to = CLIENT, seq0 = 5000): Timed[] {
  const out: Timed[] = [];
  for (let i = 0; i < n; i++) out.push({ ms: ms + i, packet: data(from, to, seq0 + i * (len - 40), len) });
  return out;
}

describe('PcapSource', () => {
  it('reports SYNs and SYN-ACKs with their MSS, in the kernel vocabulary, at the capture point named for the file', () => {
    const r = analyze([['edge.pcap', rawPcap(handshake(0, CLIENT, SERVER, { client: 8960, server: 1460 }))]]);
    const syns = r.of('syn');
    expect(syns.map((s) => [s.src, s.mss, s.flags])).toEqual([
      [CLIENT.addr, 8960, ['df']],
      [SERVER.addr, 1460, ['df', 'synack']],
    ]);
    expect(syns[0]).toMatchObject({ type: 'event', kind: 'syn', netns: 'edge', iface: 'edge', dir: null, sport: 40000, dport: 443, proto: 'tcp', len: 48, flow: { known: true, initiator: 'src' } });
    expect(syns[1]!.flow).toMatchObject({ known: true, initiator: 'dst', syn: { first: 8960, firstIface: 'edge' }, synAck: { first: 1460 } });
    expect('mtu' in syns[0]!).toBe(false); // the hook's MTU is not in a capture
    expect(r.stats.at(-1)!.traffic).toMatchObject({ flows: 1, syns: 1, synAcks: 1, ptbs: 0 });
  });

  it('writes its event lines with the fields in the order eventJson (live) writes them', () => {
    const order = ['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'mss', 'timeouts', 'reason', 'mtuIface', 'mtuNetns', 'vlan', 'inner', 'encap', 'flow', 'netnsInfo', 'flags'];
    const big = data(SERVER, CLIENT, 5000, 9000);
    const r = analyze([
      [
        'x.pcap',
        rawPcap([
          ...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }),
          { ms: 10, packet: big },
          { ms: 11, packet: ptb(ROUTER, big, 1500) },
          { ms: 300, packet: big },
        ]),
      ],
    ]);
    expect(new Set(r.events.map((e) => e.kind))).toEqual(new Set(['syn', 'size', 'ptb', 'retransmit']));
    for (const e of r.events) {
      const keys = Object.keys(e);
      expect(keys, e.kind).toEqual(order.filter((k) => keys.includes(k)));
    }
  });

  it('ties a PTB to the flow it quotes: ptb-honored with the router as the hop, once the sender resends smaller (route learned)', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const r = analyze([
      [
        'r1.pcap',
        rawPcap([
          ...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }),
          { ms: 10, packet: big },
          { ms: 10.2, packet: ptb(ROUTER, big, 1500) },
          // Linux resends the quoted segment at the new MSS, then goes on at that size.
          ...burst(11, 4, 1400, SERVER, CLIENT, 5000),
          ...burst(20, 4, 1500, SERVER, CLIENT, 5000 + 4 * 1360),
        ]),
      ],
    ]);
    const [p] = r.of('ptb');
    expect(p).toMatchObject({ kind: 'ptb', src: ROUTER, dst: SERVER.addr, proto: 'icmp', mtu: 1500, inner: { src: SERVER.addr, dst: CLIENT.addr, sport: 443, dport: 40000, proto: 'tcp', len: 9000 }, flow: { known: true } });
    expect(p!.flags).toEqual(['icmp-error']);
    const routes = r.of('route');
    expect(routes.map((x) => [x.netns, x.dst, x.mtu, x.expected, x.learned])).toEqual([
      ['r1', CLIENT.addr, 1400, 1500, true],
      ['r1', CLIENT.addr, 1500, 1500, true],
    ]);
    const [v] = r.final();
    expect(v).toMatchObject({ verdict: 'ptb-honored', where: { netns: 'r1', hop: ROUTER }, mtu: 1500 });
    expect(v!.notes.join(' ')).toMatch(/the sender adapted: after the PTB it sent \S+ no more than 1500 bytes/);
  });

  it('matches a PTB whose router rewrote the quoted length by the quoted sequence number', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const r = analyze([
      [
        'r.pcap',
        rawPcap([
          ...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }),
          // Segments of 1400 before: only the quoted sequence says which segment was too big.
          ...burst(5, 2, 1400, SERVER, CLIENT, 5000),
          { ms: 10, packet: data(SERVER, CLIENT, 7720, 9000) },
          { ms: 10.2, packet: ptb(ROUTER, data(SERVER, CLIENT, 7720, 9000), 1500, { quotedLength: 1400 }) },
          { ms: 11, packet: data(SERVER, CLIENT, 6000, 1400) }, // resent data elsewhere: not the quoted segment
          { ms: 12, packet: data(SERVER, CLIENT, 7720, 1500) },
        ]),
      ],
    ]);
    expect(r.of('ptb')[0]!.inner).toMatchObject({ len: 1400 });
    expect(r.of('route').map((x) => [x.mtu, x.expected])).toEqual([[1500, 1500]]);
    expect(r.of('route')[0]!.ts).toBe(T0 * 1000 + 12);
    expect(r.final()[0]).toMatchObject({ verdict: 'ptb-honored', mtu: 1500 });
  });

  it('a GSO resend hides its segment size: the receiver acknowledging the quoted segment after the PTB is the route learned', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const r = analyze([
      [
        'host.pcap',
        rawPcap([
          ...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }),
          { ms: 10, packet: big },
          { ms: 10.2, packet: ptb(ROUTER, big, 1500) },
          // The resend as the sending host's capture shows it: GSO, segments of a size it does not say.
          { ms: 10.3, packet: data(SERVER, CLIENT, 5000, 11 * 1448 + 40) },
          { ms: 11, packet: segment(CLIENT, SERVER, { seq: 1000, ackSeq: 4000 }) }, // an older ACK: not yet
          { ms: 12, packet: segment(CLIENT, SERVER, { seq: 1000, ackSeq: 5000 + 1448 }) },
        ]),
      ],
    ]);
    expect(r.of('route').map((x) => [x.ts - T0 * 1000, x.mtu, x.expected, x.learned])).toEqual([[12, 1500, 1500, true]]);
  });

  it('a PTB cut by the snaplen before the quoted ports is inner-truncated and matches no flow', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const items: Timed[] = [...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }), { ms: 10, packet: ptb(ROUTER, big, 1500) }];
    // 20 (IP) + 8 (ICMP) + 20 (the quoted IP header) + 2: the quoted source port only.
    const r = analyze([['cut.pcap', rawPcap(items, { snaplen: 50 })]]);
    const [p] = r.of('ptb');
    expect(p!.flags).toEqual(['icmp-error', 'inner-truncated']);
    expect(p!.len).toBe(20 + 8 + 548); // the packet's length on the wire, not the bytes kept
    expect(p!.inner).toMatchObject({ src: SERVER.addr, dst: CLIENT.addr, sport: 0, dport: 0 });
    expect(p!.flow).toEqual({ known: false });
    expect(r.stats.at(-1)!.flows.unmatched).toBe(1);
  });

  it('counts retransmissions from sequence numbers, timeouts as the RTO backs off, and a silent black hole with bounds', () => {
    const r = analyze([
      [
        's.pcap',
        rawPcap([
          ...handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }),
          { ms: 10, packet: data(SERVER, CLIENT, 5000, 1500) },
          { ms: 220, packet: data(SERVER, CLIENT, 5000, 1500) },
          { ms: 640, packet: data(SERVER, CLIENT, 5000, 1500) },
          { ms: 1480, packet: data(SERVER, CLIENT, 5000, 1500) },
          // The sender gives up on PMTUD: 576 bytes, DF cleared (the same segment's start).
          { ms: 3160, packet: data(SERVER, CLIENT, 5000, 576, { df: false }) },
          { ms: 3170, packet: data(SERVER, CLIENT, 5536, 576, { df: false }) }, // the rest of it, small: not reported
          { ms: 3180, packet: data(SERVER, CLIENT, 6072, 428, { df: false }) },
          { ms: 3200, packet: data(SERVER, CLIENT, 6460, 1500) },
          { ms: 3400, packet: data(SERVER, CLIENT, 6460, 1500) },
        ]),
      ],
    ]);
    const rtx = r.of('retransmit');
    expect(rtx.map((x) => [x.ts - T0 * 1000, x.len, x.mss, x.timeouts, x.flags])).toEqual([
      [220, 1500, 1460, 1, ['df']],
      [640, 1500, 1460, 2, ['df']],
      [1480, 1500, 1460, 3, ['df']],
      [3160, 576, 1460, 4, []],
      [3400, 1500, 1460, 1, ['df']], // new data came between: the count starts again
    ]);
    expect(rtx[0]).toMatchObject({ src: SERVER.addr, dst: CLIENT.addr, sport: 443, dport: 40000, flow: { known: true } });
    const [v] = r.final();
    // The fallback is no loss of its own: the bounds stay at the large size, and the evidence says it fell back.
    expect(v).toMatchObject({ verdict: 'silent-blackhole', cause: 'no-ptb', where: { netns: 's' }, bounds: { largestOk: null, smallestLost: 1500 } });
    expect(v!.evidence.map((e) => e.what).join('\n')).toContain('then it resent the data in 576-byte packets (its black-hole detection falling back)');
  });

  it('keepalive probes (one byte below the next sequence number) are not retransmissions', () => {
    const r = analyze([['k.pcap', rawPcap([...handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }), { ms: 10, packet: data(SERVER, CLIENT, 5000, 1500) }, { ms: 5000, packet: segment(SERVER, CLIENT, { seq: 6459, payload: 1 }) }])]], { sizeMin: 1 });
    expect(r.of('retransmit')).toEqual([]);
  });

  it('a GSO packet (larger than the MSS the other end advertised) is sized per segment, flagged gso', () => {
    const r = analyze([['host.pcap', rawPcap([...handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }), { ms: 10, packet: data(SERVER, CLIENT, 5000, 64000) }, { ms: 11, packet: data(SERVER, CLIENT, 5000 + 63960, 64000) }])]]);
    expect(r.of('size').map((s) => [s.len, s.flags])).toEqual([[1500, ['df', 'gso']]]);
  });

  it('IPv6 with extension headers: the SYN MSS behind a hop-by-hop header, a PTB quoting the flow, the route learned', () => {
    const synSeg = tcp({ src: CLIENT6.addr, dst: SERVER6.addr, sport: CLIENT6.port, dport: SERVER6.port, syn: true, mss: 8940, seq: 999 });
    const syn = ipv6({ src: CLIENT6.addr, dst: SERVER6.addr, next: 0, payload: hopByHop(PROTO.tcp, synSeg) });
    const synAck = segment(SERVER6, CLIENT6, { syn: true, ack: true, mss: 8940, seq: 4999 });
    const big = data(SERVER6, CLIENT6, 5000, 9000);
    const r = analyze([
      [
        'v6.pcap',
        rawPcap([
          { ms: 0, packet: syn },
          { ms: 1, packet: synAck },
          { ms: 10, packet: big },
          { ms: 10.5, packet: ptb(ROUTER6, big, 1280) },
          { ms: 11, packet: data(SERVER6, CLIENT6, 5000, 1280) },
        ]),
      ],
    ]);
    expect(r.of('syn').map((s) => [s.src, s.mss, s.len])).toEqual([
      [CLIENT6.addr, 8940, 40 + 8 + 28],
      [SERVER6.addr, 8940, 40 + 28],
    ]);
    expect(r.of('ptb')[0]).toMatchObject({ kind: 'ptb', src: ROUTER6, proto: 'icmpv6', mtu: 1280, inner: { src: SERVER6.addr, dst: CLIENT6.addr, sport: 443, dport: 40000 }, flow: { known: true } });
    expect(r.of('route').map((x) => [x.mtu, x.expected])).toEqual([[1280, 1280]]);
    expect(r.final()[0]).toMatchObject({ verdict: 'ptb-honored', mtu: 1280, where: { hop: ROUTER6 } });
  });

  it('nanosecond pcap: times to the microsecond, as live writes them', () => {
    const r = analyze([['ns.pcap', rawPcap(handshake(0.123, CLIENT, SERVER, { client: 1460, server: 1460 }), { nano: true })]]);
    expect(r.of('syn').map((s) => s.ts)).toEqual([T0 * 1000 + 0.123, T0 * 1000 + 1.123]);
  });

  it('SLL2 (tcpdump -i any on a router): a forwarded segment seen arriving and leaving is no retransmission; a resend is', () => {
    const frame = (ms: number, p: Buffer, pkttype: number, ifindex: number) => ({ sec: T0, frac: ms * 1000, data: sll2(p, pkttype, ifindex) });
    const seg = data(SERVER, CLIENT, 5000, 1500);
    const seg2 = data(SERVER, CLIENT, 6460, 1500);
    const r = analyze([
      [
        'any.pcap',
        pcap({ linkType: LINKTYPE.LINUX_SLL2 }, [
          frame(10, seg, 0, 3),
          frame(10, seg, 4, 2),
          frame(11, seg2, 0, 3),
          frame(11, seg2, 4, 2),
          frame(300, seg, 0, 3), // resent: arrives again
          frame(300, seg, 4, 2),
        ]),
      ],
    ]);
    const rtx = r.of('retransmit');
    expect(rtx.map((x) => [x.dir, x.timeouts])).toEqual([['ingress', 1]]);
  });

  it('SLL2: events name the interface by the kernel ifindex the file gives, so an MSS clamped on the way through shows where', () => {
    const frame = (ms: number, p: Buffer, pkttype: number, ifindex: number) => ({ sec: T0, frac: ms * 1000, data: sll2(p, pkttype, ifindex) });
    const [syn] = handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 });
    const clamped = handshake(0, CLIENT, SERVER, { client: 1400, server: 1460 })[0]!;
    const r = analyze([['any.pcap', pcap({ linkType: LINKTYPE.LINUX_SLL2 }, [frame(1, syn!.packet, 0, 3), frame(1.1, clamped.packet, 4, 5)])]]);
    expect(r.of('syn').map((e) => [e.netns, e.iface, e.dir, e.mss])).toEqual([
      ['any', 'if3', 'ingress', 1460],
      ['any', 'if5', 'egress', 1400],
    ]);
    expect(r.of('syn')[1]!.flow).toMatchObject({ syn: { first: 1460, firstIface: 'if3', last: 1400, lastIface: 'if5' } });
  });

  it('a VLAN-tagged frame: its id on the event, where live puts it (before inner)', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const bytes = pcap({ linkType: LINKTYPE.EN10MB }, [{ sec: T0, frac: 10_000, data: ethernet(ptb(ROUTER, big, 1500), [[0x8100, 42]]) }]);
    const [ev] = analyze([['tagged.pcap', bytes]]).of('ptb');
    expect(ev!.vlan).toBe(42);
    const keys = Object.keys(ev!);
    expect(keys.indexOf('vlan')).toBeGreaterThan(keys.indexOf('len'));
    expect(keys.indexOf('vlan')).toBeLessThan(keys.indexOf('inner'));
  });

  it("the server's own capture behind a router that clamped the MSS: the client's merged segments are of the clamped size and arrived (TTLs say which way), no black hole", () => {
    // The router between clamped both SYNs to 1460; the server's SYN-ACK is seen here as it left, 8960.
    const far = (x: Timed): Timed => ({ ...x, packet: afterRouters(x.packet, 2) });
    const [syn, synAck, ack] = handshake(0, CLIENT, SERVER, { client: 1460, server: 8960 });
    const merged = (ms: number, seq: number) => far({ ms, packet: data(CLIENT, SERVER, seq, 7300) }); // GRO of 5 segments of 1460
    const r = analyze([
      [
        'server.pcap',
        rawPcap([far(syn!), synAck!, far(ack!), merged(10, 1000), merged(11, 8260), merged(12, 15520), merged(300, 1000), merged(900, 1000), merged(2100, 1000)]),
      ],
    ]);
    expect(r.of('syn').map((e) => e.dir)).toEqual([null, 'egress']);
    expect(r.of('size').map((e) => [e.len, e.dir, e.flags])).toEqual([[1500, 'ingress', ['df', 'gso']]]);
    expect(r.of('retransmit').map((e) => [e.len, e.timeouts])).toEqual([
      [1500, 1],
      [1500, 2],
      [1500, 3],
    ]);
    expect(r.verdicts.map((v) => v.verdict)).not.toContain('silent-blackhole');
  });

  it('reads up to the damage of a truncated file', () => {
    const bytes = rawPcap([...handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }), ...burst(10, 5, 1500)]);
    const r = analyze([['cut.pcap', bytes.subarray(0, bytes.length - 700)]]);
    expect(r.of('syn')).toHaveLength(2);
    const [f] = r.source.files();
    expect(f!.stats.damage?.message).toMatch(/^cut\.pcap: damaged at byte \d+/);
    expect(r.source.describeStop()).toMatch(/^cut\.pcap: pcap, 7 IP packets; damaged/);
  });

  it('merges files in time order, one capture point each, and matches a flow across them by its 5-tuple', () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    // The server's side sees the handshake and its own segments; the router's side sees the PTB it sent.
    const server = rawPcap([...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }), { ms: 10, packet: big }, { ms: 11, packet: data(SERVER, CLIENT, 5000, 1500) }]);
    const router = rawPcap([{ ms: 10.5, packet: ptb(ROUTER, big, 1500) }]);
    const r = analyze([
      ['router.pcap', router],
      ['server.pcap', server],
    ]);
    expect(r.events.map((e) => [e.kind, e.netns])).toEqual([
      ['syn', 'server'],
      ['syn', 'server'],
      ['size', 'server'],
      ['ptb', 'router'],
      ['retransmit', 'server'], // the quoted segment resent, smaller
      ['route', 'server'],
    ]);
    const times = r.events.map((e) => e.ts);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(r.of('ptb')[0]!.flow).toEqual({ known: false }); // the router's capture never saw the flow itself
    expect(r.final()).toHaveLength(1);
    expect(r.final()[0]).toMatchObject({ verdict: 'ptb-honored', where: { netns: 'router', hop: ROUTER }, mtu: 1500 });
  });

  it('tells apart two files whose interfaces have the same name: file:iface', () => {
    const a = pcapngOf(handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }), 'eth0');
    const b = pcapngOf(handshake(5, CLIENT, SERVER, { client: 1460, server: 1400 }), 'eth0');
    const r = analyze([
      ['a.pcapng', a],
      ['b.pcapng', b],
    ]);
    expect(r.of('syn').map((s) => [s.netns, s.iface, s.mss])).toEqual([
      ['a:eth0', 'eth0', 1460],
      ['a:eth0', 'eth0', 1460],
      ['b:eth0', 'eth0', 1460],
      ['b:eth0', 'eth0', 1400],
    ]);
  });

  it('takes the direction from pcapng epb_flags', () => {
    const items = handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }).map((x, i) => ({ ...x, dir: i === 1 ? ('in' as const) : ('out' as const) }));
    const r = analyze([['c.pcapng', pcapngOf(items, 'eth0')]]);
    expect(r.of('syn').map((s) => [s.netns, s.dir])).toEqual([
      ['eth0', 'egress'],
      ['eth0', 'ingress'],
    ]);
  });

  it('keeps a bounded flow table: the least recently used flow goes, counted', () => {
    const items: Timed[] = [];
    for (let i = 0; i < 10; i++) items.push(...handshake(i * 10, { addr: CLIENT.addr, port: 40000 + i }, SERVER, { client: 1460, server: 1460 }));
    const r = analyze([['many.pcap', rawPcap(items)]], { maxFlows: 4 });
    expect(r.source.losses().flowTableFull).toBe(6);
    expect(r.stats.at(-1)!.losses.flowTableFull).toBe(6);
  });

  it('ignores what is no IP packet it reads (a UDP flow\'s DF sizes still count)', () => {
    const udpBig = ipv4({ src: CLIENT.addr, dst: SERVER.addr, proto: PROTO.udp, df: true, payload: Buffer.alloc(2000) });
    const r = analyze([['u.pcap', rawPcap([{ ms: 0, packet: udpBig }, { ms: 1, packet: udpBig }])]]);
    expect(r.of('size').map((s) => [s.proto, s.len])).toEqual([['udp', 2020]]);
  });

  it('open(): files that cannot be opened are failures, the others are read; progress counts the bytes of all', () => {
    const a = join(dir, 'a.pcap');
    const b = join(dir, 'b.pcap');
    writeFileSync(a, rawPcap(handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 })));
    writeFileSync(b, rawPcap(burst(1, 200, 1500)));
    const calls: [number, number][] = [];
    const { source, failures } = PcapSource.open([a, join(dir, 'none.pcap'), b], { onProgress: (read, size) => calls.push([read, size]) });
    expect(failures.map((f) => [f.file.endsWith('none.pcap'), f.error.code])).toEqual([[true, 'PMTU_ERR_CAPTURE']]);
    const session = new Session(source);
    source.playAll();
    session.close();
    const total = statSync(a).size + statSync(b).size;
    expect(calls.at(-1)).toEqual([total, total]);
    expect(source.packets).toBe(203);
  });
});
