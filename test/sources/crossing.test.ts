// One traffic captured at two points (sources/crossing.ts through the pcap
// source and live's correlator): synthetic pcaps of a client's side (a) and
// a server's side (b) of a path, packets dropped between them, asserting on
// the `lost` events and the verdicts a user would see.

import { describe, expect, it } from 'vitest';

import { ForeignCaptureReader, LINKTYPE } from '../../src/capture/foreign.js';
import type { EventJson, StreamEvent } from '../../src/contract/event.js';
import { verdictText } from '../../src/contract/text.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { Session } from '../../src/session.js';
import { PcapSource, type PcapSourceOptions } from '../../src/sources/pcap.js';
import { ipv4, PROTO } from '../helpers/packets.js';
import { arpFrame, ethernet, pcap } from '../helpers/pcap-files.js';
import { CLIENT, data, handshake, ptb, ROUTER, segment, SERVER, type Peer, type Timed } from '../helpers/tcp-flows.js';

const T0 = 1_700_000_000; // seconds; packets from T0 + 1 s on (b's clock may be behind)
/** What forwarding from one point to the other takes. */
const LAT = 0.2;

function rawPcap(items: Timed[]): Buffer {
  const sorted = [...items].sort((x, y) => x.ms - y.ms);
  return pcap(
    { linkType: LINKTYPE.RAW },
    sorted.map((x) => {
      const us = Math.round((x.ms + 1000) * 1000);
      return { sec: T0 + Math.floor(us / 1e6), frac: us % 1e6, data: x.packet, origLen: x.packet.length };
    }),
  );
}

/** A packet on the path a — b: sent at `ms` by its source (the client is on a's side), `at` where it is seen (default both). */
interface OnPath {
  ms: number;
  packet: Buffer;
  at?: 'a' | 'b' | 'both';
}

const fromClient = (p: Buffer) => `${p[12]}.${p[13]}.${p[14]}.${p[15]}` === CLIENT.addr;

/**
 * The two captures: a packet from the client is at a at `ms` and at b LAT
 * later (from the server, the other way round); `skewB` is added to b's clock.
 */
function path(pkts: OnPath[], o: { skewB?: number } = {}): { a: Timed[]; b: Timed[] } {
  const a: Timed[] = [];
  const b: Timed[] = [];
  const skew = o.skewB ?? 0;
  for (const p of pkts) {
    const up = fromClient(p.packet) ? 'a' : 'b';
    const at = p.at ?? 'both';
    const seenA = at === 'both' || at === 'a';
    const seenB = at === 'both' || at === 'b';
    const tA = up === 'a' ? p.ms : p.ms + LAT;
    const tB = (up === 'b' ? p.ms : p.ms + LAT) + skew;
    if (seenA) a.push({ ms: tA, packet: p.packet });
    if (seenB) b.push({ ms: tB, packet: p.packet });
  }
  return { a, b };
}

const both = (items: Timed[]): OnPath[] => items.map((x) => ({ ...x }));
const only = (at: 'a' | 'b', items: Timed[]): OnPath[] => items.map((x) => ({ ...x, at }));

/** The server's pure ACKs every 100 ms until `until`: both captures go on meanwhile. */
function acks(from: number, until: number, ackSeq = 1000): OnPath[] {
  const out: OnPath[] = [];
  for (let ms = from; ms <= until; ms += 100) out.push({ ms, packet: segment(SERVER, CLIENT, { seq: 5000, ackSeq }) });
  return out;
}

/** Client segments of `len` bytes from seq, one a ms from `ms`. */
function segs(ms: number, n: number, len: number, seq: number, from: Peer = CLIENT, to: Peer = SERVER): Timed[] {
  const out: Timed[] = [];
  for (let i = 0; i < n; i++) out.push({ ms: ms + i, packet: data(from, to, seq + i * (len - 40), len) });
  return out;
}

interface Run {
  events: StreamEvent[];
  lost: EventJson[];
  source: PcapSource;
  final: VerdictJson[];
}

function analyze(p: { a: Timed[]; b: Timed[] }, opts: PcapSourceOptions = {}): Run {
  const source = new PcapSource([ForeignCaptureReader.fromBuffer(rawPcap(p.a), 'a.pcap'), ForeignCaptureReader.fromBuffer(rawPcap(p.b), 'b.pcap')], opts);
  const events: StreamEvent[] = [];
  const session = new Session(source, { event: (e) => events.push(e) });
  source.playAll();
  session.close();
  return { events, lost: events.filter((e): e is EventJson => e.kind === 'lost'), source, final: session.correlator.verdicts() };
}

const HANDSHAKE = (): OnPath[] => both(handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 }));
const TROUBLE = new Set(['ptb-dropped', 'ptb-not-honored', 'silent-blackhole', 'local-bottleneck']);

describe('two capture points', () => {
  it('large segments seen at a and never at b, small ones at both: a silent black hole between a and b, with the bounds', () => {
    const r = analyze(
      path([
        ...HANDSHAKE(),
        ...both(segs(10, 3, 1400, 1000)),
        // Full-size segments vanish between the two, and so do their resends as the RTO backs off.
        ...only('a', segs(20, 2, 1500, 1000 + 3 * 1360)),
        ...only('a', [220, 620, 1420].map((ms) => ({ ms, packet: data(CLIENT, SERVER, 1000 + 3 * 1360, 1500) }))),
        ...acks(100, 3000, 1000 + 3 * 1360),
      ]),
    );
    expect(r.lost.length).toBeGreaterThan(0);
    const last = r.lost.at(-1)!;
    expect(last).toMatchObject({ netns: 'a', iface: 'a', src: CLIENT.addr, dst: SERVER.addr, sport: 40000, dport: 443, proto: 'tcp', lost: { netns: 'b', iface: 'b', count: 5, smallest: 1500, largest: 1500, df: 5, passedLargest: 1400 }, flags: ['df'] });
    expect(last.flow).toMatchObject({ known: true });
    const [v] = r.final;
    expect(v).toMatchObject({ verdict: 'silent-blackhole', cause: 'no-ptb', where: { netns: 'a', iface: 'a', hop: null, next: { netns: 'b', iface: 'b' } }, bounds: { largestOk: 1400, smallestLost: 1500 } });
    expect(v!.evidence.map((e) => e.what)).toContain(`5 packets of 1500 bytes (DF) from ${CLIENT.addr} seen at a never reached b, while 4 of up to 1400 bytes did`);
    expect(v!.fix).toMatch(/^Between the capture points a and b a hop drops packets of 1500 bytes \(1400 get through\) without sending a PTB/);
    expect(v!.fix).toContain('clamp MSS to 1360');
    expect(v!.fix).not.toMatch(/ip netns exec/);
    expect(verdictText(v!)).toMatch(/SILENT-BLACKHOLE no-ptb tcp 198\.18\.1\.2:40000 -> 198\.18\.3\.2:443 between a and b path mtu 1400\.\.1499/);
  });

  it('a lost event comes at the first large loss, then as the count doubles, and the count is exact at the end', () => {
    const lost: OnPath[] = [];
    for (let i = 0; i < 9; i++) lost.push({ ms: 20 + i * 10, packet: data(CLIENT, SERVER, 1000 + i * 1460, 1500), at: 'a' });
    const r = analyze(path([...HANDSHAKE(), ...lost, ...acks(100, 2500)]));
    expect(r.lost.map((e) => e.lost!.count)).toEqual([1, 2, 4, 8, 9]);
  });

  it('everything seen at both: no lost event, nothing in trouble', () => {
    const r = analyze(path([...HANDSHAKE(), ...both(segs(10, 20, 1500, 1000)), ...acks(100, 3000)]));
    expect(r.lost).toEqual([]);
    expect(r.final.filter((v) => TROUBLE.has(v.verdict))).toEqual([]);
  });

  it('b does not capture that direction at all (it sees the server\'s packets only): no lost event, no verdict', () => {
    const p = path([...HANDSHAKE(), ...both(segs(10, 3, 1400, 1000)), ...only('a', segs(20, 5, 1500, 1000 + 3 * 1360)), ...acks(100, 3000)]);
    const b = p.b.filter((x) => !fromClient(x.packet));
    const r = analyze({ a: p.a, b });
    expect(r.lost).toEqual([]);
    expect(r.final.filter((v) => TROUBLE.has(v.verdict))).toEqual([]);
  });

  it('losses of every size alike are plain loss: evidence, not a black hole (even where one segment timed out twice)', () => {
    const pkts: OnPath[] = [...HANDSHAKE()];
    let seq = 1000;
    for (let i = 0; i < 40; i++) {
      const len = i % 2 ? 1500 : 600;
      pkts.push({ ms: 10 + i, packet: data(CLIENT, SERVER, seq, len), at: i % 5 === 3 || i % 5 === 4 ? 'a' : 'both' });
      seq += len - 40;
    }
    // The first lost one, resent twice after timeouts, lost both times.
    const first = pkts.find((p) => p.at === 'a')!;
    pkts.push({ ms: 300, packet: first.packet, at: 'a' }, { ms: 900, packet: first.packet, at: 'a' });
    const r = analyze(path([...pkts, ...acks(100, 3000)]));
    const last = r.lost.at(-1)!;
    expect(last.lost).toMatchObject({ smallest: 600, largest: 1500, passedLargest: 1500 });
    const [v] = r.final;
    expect(v!.verdict).toBe('ok');
    expect(v!.evidence.map((e) => e.what).join('\n')).toMatch(/never reached b, while packets as large \(up to 1500 bytes\) did: plain loss, not an MTU problem/);
  });

  it('b\'s clock 30 ms behind a\'s and packets reordered between the two: still lost between a and b', () => {
    const p = path(
      [
        ...HANDSHAKE(),
        ...both(segs(10, 3, 1400, 1000)),
        ...only('a', segs(20, 2, 1500, 1000 + 3 * 1360)),
        ...only('a', [220, 620].map((ms) => ({ ms, packet: data(CLIENT, SERVER, 1000 + 3 * 1360, 1500) }))),
        ...acks(100, 3000, 1000 + 3 * 1360),
      ],
      { skewB: -30 },
    );
    // The first small one is held up on the way (1.3 ms): it reaches b after the second.
    const small = p.b.filter((x) => x.packet.length === 1400);
    small[0]!.ms += 1.3;
    expect(small[0]!.ms).toBeGreaterThan(small[1]!.ms);
    // b's packets of the client's now carry times before a's: only both directions together tell the order.
    expect(p.b.find((x) => x.packet.length === 1400)!.ms).toBeLessThan(p.a.find((x) => x.packet.length === 1400)!.ms);
    const r = analyze(p);
    const [v] = r.final;
    expect(v).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 1400, smallestLost: 1500 } });
    expect(r.lost.at(-1)!.lost).toMatchObject({ count: 4 });
  });

  it('a lost segment resent smaller that then gets through: the bounds are what passed and what never did', () => {
    const big = data(CLIENT, SERVER, 1000, 1500);
    const r = analyze(
      path([
        ...HANDSHAKE(),
        ...only('a', [20, 220, 620].map((ms) => ({ ms, packet: big }))),
        // The sender's black-hole detection (tcp_mtu_probing) cuts the segment in two that fit.
        ...both([{ ms: 1420, packet: data(CLIENT, SERVER, 1000, 1100) }, { ms: 1421, packet: data(CLIENT, SERVER, 2060, 440) }]),
        ...acks(100, 3500, 1000),
      ]),
    );
    // First said while only the SYN had got through; said again once 1100 bytes did.
    expect(r.lost.map((e) => [e.lost!.count, e.lost!.passedLargest])).toEqual([
      [3, 48],
      [3, 1100],
    ]);
    expect(r.final[0]).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 1100, smallestLost: 1500 } });
  });

  it('a PTB from the router between them: ptb-honored, with the place between a and b in its evidence', () => {
    const big = data(CLIENT, SERVER, 1000, 1500);
    const r = analyze(
      path([
        ...both(handshake(0, CLIENT, SERVER, { client: 1460, server: 1460 })),
        { ms: 20, packet: big, at: 'a' },
        { ms: 20.5, packet: ptb(ROUTER, big, 1400), at: 'a' },
        ...both(segs(21, 2, 1400, 1000)),
        ...acks(100, 2500, 1000 + 2 * 1360),
      ]),
    );
    const [v] = r.final;
    expect(v).toMatchObject({ verdict: 'ptb-honored', where: { netns: 'a', hop: ROUTER }, mtu: 1400 });
    expect(v!.where.next).toBeUndefined();
    expect(v!.evidence.map((e) => e.what)).toContain(`a packet of 1500 bytes (DF) from ${CLIENT.addr} seen at a never reached b, while 3 of up to 1400 bytes did`);
  });

  it('b\'s capture ends early or starts late: what a sent while b was not capturing is not lost', () => {
    const p = path([...HANDSHAKE(), ...both(segs(10, 3, 1400, 1000)), ...only('a', segs(1500, 5, 1500, 1000 + 3 * 1360)), ...acks(100, 1000)]);
    // a goes on capturing (the client's ACKs of nothing, until 3.5 s); b stopped at 1 s.
    const a = [...p.a];
    for (let ms = 2000; ms <= 3500; ms += 100) a.push({ ms, packet: segment(CLIENT, SERVER, { seq: 1000 + 3 * 1360, ackSeq: 5000 }) });
    expect(analyze({ a, b: p.b }).lost).toEqual([]);
    // b starts at 0.5 s (and sees the client's packets from then on): what a sent before was never awaited there.
    const late = path([...HANDSHAKE(), ...only('a', segs(10, 5, 1500, 1000)), ...both(segs(500, 3, 1400, 1000 + 5 * 1460)), ...acks(600, 3000)]);
    expect(analyze({ a: late.a, b: late.b.filter((x) => x.ms >= 500) }).lost).toEqual([]);
  });

  it('GSO on the sending host: followed as its segments after a full single segment, so one lost segment counts', () => {
    const p = path([
      ...HANDSHAKE(),
      { ms: 10, packet: data(CLIENT, SERVER, 1000, 1500) }, // a full segment on its own
      { ms: 20, packet: data(CLIENT, SERVER, 2460, 4 * 1460 + 40), at: 'a' }, // GSO: four segments as a sees it
      ...both(segs(20, 4, 1500, 2460)).filter((_, i) => i !== 2).map((x) => ({ ...x, at: 'b' as const })),
      ...acks(100, 3000, 2460),
    ]);
    const r = analyze(p);
    expect(r.lost.at(-1)!.lost).toMatchObject({ count: 1, smallest: 1500, passedLargest: 1500 });
    expect(r.final[0]!.verdict).not.toBe('silent-blackhole'); // segments as large got through
  });

  it('GSO whose segments are smaller than the MSS (the sender cut them after a PTB): not followed, no false loss', () => {
    const p = path([
      ...HANDSHAKE(),
      { ms: 10, packet: data(CLIENT, SERVER, 1000, 1400) }, // its latest single segment is not a full one
      { ms: 20, packet: data(CLIENT, SERVER, 2360, 4 * 1360 + 40), at: 'a' },
      ...only('b', segs(20, 4, 1400, 2360)),
      ...acks(100, 3000, 2360),
    ]);
    expect(analyze(p).lost).toEqual([]);
  });

  it('a GSO packet that crosses whole (a bridge port checks no MTU of it) says no size got through; the single segments lost do', () => {
    const traffic = [
      ...HANDSHAKE(),
      { ms: 10, packet: data(CLIENT, SERVER, 1000, 1500), at: 'a' as const }, // a full segment on its own: lost
      { ms: 20, packet: data(CLIENT, SERVER, 2460, 4 * 1460 + 40) }, // GSO at both: it went through as one
      { ms: 230, packet: data(CLIENT, SERVER, 1000, 1500), at: 'a' as const }, // the resend: lost again
      ...acks(100, 3000, 1000),
    ];
    // b knows the GSO packet as a range; or, having seen a full segment on its own that a's capture missed (tcpdump drops
    // what it cannot keep up with), cuts it into segments as a does.
    for (const extra of [[], [{ ms: 5, packet: data(CLIENT, SERVER, 900000, 1500), at: 'b' as const }]]) {
      const r = analyze(path([...traffic, ...extra]));
      expect(r.lost.at(-1)!.lost).toMatchObject({ count: 2, smallest: 1500, passedLargest: 48 });
      expect(r.final[0]).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 48, smallestLost: 1500 } });
    }
  });

  it('GSO at both points and a GSO packet b\'s capture dropped (tcpdump fell behind): no segments of it lost, no black hole of one stray loss', () => {
    const p = path([
      ...HANDSHAKE(),
      { ms: 10, packet: data(CLIENT, SERVER, 1000, 1500), at: 'a' }, // a single full segment b's capture missed too
      { ms: 20, packet: data(CLIENT, SERVER, 2460, 4 * 1460 + 40) },
      { ms: 21, packet: data(CLIENT, SERVER, 2460 + 4 * 1460, 4 * 1460 + 40), at: 'a' }, // dropped by b's capture
      { ms: 22, packet: data(CLIENT, SERVER, 2460 + 8 * 1460, 4 * 1460 + 40) },
      ...acks(100, 3000, 1000),
    ]);
    const r = analyze(p);
    expect(r.lost.at(-1)!.lost).toMatchObject({ count: 1, smallest: 1500 });
    const [v] = r.final;
    expect(v!.verdict).not.toBe('silent-blackhole');
    expect(v!.evidence.map((e) => e.what)).toContain(`a packet of 1500 bytes (DF) from ${CLIENT.addr} seen at a never reached b, while 1 of up to 48 bytes did`);
  });

  it('GRO on the receiving host: merged packets at b cover the segments a saw', () => {
    const p = path([...HANDSHAKE(), ...only('a', segs(10, 8, 1500, 1000)), { ms: 10, packet: data(CLIENT, SERVER, 1000, 8 * 1460 + 40), at: 'b' }, ...acks(100, 3000)]);
    const r = analyze(p);
    expect(r.lost).toEqual([]);
    expect(r.final.filter((v) => TROUBLE.has(v.verdict))).toEqual([]);
  });

  it('DF pings: echo requests of 1028 bytes reach b, of 4028 never do: the ICMP flow\'s black hole between a and b', () => {
    const echo = (seq: number, len: number) => {
      const icmp = Buffer.alloc(len - 20);
      icmp[0] = 8;
      icmp.writeUInt16BE(0x77, 4);
      icmp.writeUInt16BE(seq, 6);
      return ipv4({ src: CLIENT.addr, dst: SERVER.addr, proto: PROTO.icmp, df: true, payload: icmp });
    };
    const pkts: OnPath[] = [...HANDSHAKE()];
    for (let i = 0; i < 3; i++) pkts.push({ ms: 10 + i * 100, packet: echo(i + 1, 1028) });
    for (let i = 0; i < 3; i++) pkts.push({ ms: 400 + i * 100, packet: echo(i + 4, 4028), at: 'a' });
    const r = analyze(path([...pkts, ...acks(100, 2500)]));
    const icmp = r.final.find((v) => v.flow.proto === 'icmp');
    expect(icmp).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 1028, smallestLost: 4028 } });
    // The large ones first (nothing of the flow has reached b when they are given up on): placed once the small ones tell the order.
    const first: OnPath[] = [];
    for (let i = 0; i < 2; i++) first.push({ ms: 10 + i * 200, packet: echo(i + 1, 8028), at: 'a' });
    for (let i = 0; i < 2; i++) first.push({ ms: 2500 + i * 200, packet: echo(i + 3, 1500) });
    const later = analyze(path([...HANDSHAKE(), ...first, ...acks(100, 4000)]));
    expect(later.final.find((v) => v.flow.proto === 'icmp')).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 1500, smallestLost: 8028 } });
  });

  it('b quiet until after the loss (its first record an ARP request, its first IP packet seconds later): still capturing then', () => {
    const echo = (seq: number, len: number) => {
      const icmp = Buffer.alloc(len - 20);
      icmp[0] = 8;
      icmp.writeUInt16BE(0x78, 4);
      icmp.writeUInt16BE(seq, 6);
      return ipv4({ src: CLIENT.addr, dst: SERVER.addr, proto: PROTO.icmp, df: true, payload: icmp });
    };
    const p = path([
      ...[10, 210].map((ms, i) => ({ ms, packet: echo(i + 1, 8028), at: 'a' as const })),
      ...[2500, 2700].map((ms, i) => ({ ms, packet: echo(i + 3, 1500) })),
      ...acks(2600, 4000),
    ]);
    const ether = (items: Timed[], arpAt?: number) =>
      pcap(
        { linkType: LINKTYPE.EN10MB },
        [...(arpAt === undefined ? [] : [{ ms: arpAt, data: arpFrame() }]), ...items.map((x) => ({ ms: x.ms, data: ethernet(x.packet) }))]
          .sort((x, y) => x.ms - y.ms)
          .map((x) => ({ sec: T0 + 1 + Math.floor(x.ms / 1000), frac: Math.round((x.ms % 1000) * 1000), data: x.data })),
      );
    const run = (arpAt?: number) => {
      const source = new PcapSource([ForeignCaptureReader.fromBuffer(ether(p.a), 'a.pcap'), ForeignCaptureReader.fromBuffer(ether(p.b, arpAt), 'b.pcap')]);
      const session = new Session(source);
      source.playAll();
      session.close();
      return session.correlator.verdicts().find((v) => v.flow.proto === 'icmp');
    };
    // The ARP request for the server, broadcast before the first ping, reached b's capture too.
    expect(run(9.9)).toMatchObject({ verdict: 'silent-blackhole', where: { netns: 'a', next: { netns: 'b' } }, bounds: { largestOk: 1500, smallestLost: 8028 } });
    // Without it, b's capture may have begun after the large pings: nothing is said of them.
    expect(run()?.verdict).not.toBe('silent-blackhole');
  });

  it('the bound is on packets still awaited: those seen at both leave at once, however many pass meanwhile', () => {
    const r = analyze(
      path([...HANDSHAKE(), { ms: 5, packet: data(CLIENT, SERVER, 1000, 1500), at: 'a' }, ...both(segs(10, 200, 1400, 2460).map((x, i) => ({ ...x, ms: 10 + i * 2 }))), ...acks(100, 3000)]),
      { maxAwaited: 16 },
    );
    expect(r.source.unfollowed).toBe(0);
    expect(r.lost.at(-1)!.lost).toMatchObject({ count: 1, smallest: 1500, passedLargest: 1400 });
  });

  it('a bounded number of packets awaited: past it the oldest go unjudged, counted and said', () => {
    // b never sees the client's data: every segment waits out its second.
    const r = analyze(path([...HANDSHAKE(), ...only('a', segs(10, 50, 1500, 1000)), ...acks(100, 3000)]), { maxAwaited: 16 });
    expect(r.source.unfollowed).toBeGreaterThan(0);
    expect(r.source.describeStop()).toMatch(/\d+ packets not followed to the other capture points \(more than 16 awaited at once\)/);
  });
});
