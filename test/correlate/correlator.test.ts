// The correlator on recorded event streams (test/fixtures/streams, made by
// scripts/record-streams.mjs from real lab runs): the verdicts, and that they
// do not depend on order, repeats, or having seen a flow from its start.

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Correlator, flowKey } from '../../src/correlate/correlator.js';
import type { CorrelatorEvent, EventJson, RouteEventJson } from '../../src/contract/event.js';
import type { VerdictJson } from '../../src/contract/verdict.js';

function stream(name: string): CorrelatorEvent[] {
  return readFileSync(new URL(`../fixtures/streams/${name}.jsonl`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CorrelatorEvent);
}

function run(events: CorrelatorEvent[], c = new Correlator()): { c: Correlator; changes: VerdictJson[] } {
  const changes = events.flatMap((e) => c.push(e));
  return { c, changes };
}

/** What a verdict says, without its timing. */
function gist(v: VerdictJson) {
  return { flow: flowKey(v.flow), verdict: v.verdict, cause: v.cause, where: v.where, mtu: v.mtu, bounds: v.bounds };
}

function finals(events: CorrelatorEvent[]) {
  return run(events)
    .c.verdicts()
    .map(gist)
    .sort((a, b) => a.flow.localeCompare(b.flow));
}

/** The verdict of the flow carrying most events of a protocol (the data connection, not iperf3's control one). */
function main(events: CorrelatorEvent[], proto: string): VerdictJson {
  const c = run(events).c;
  const counts = new Map<string, number>();
  for (const e of events) {
    const f = e.kind === 'route' || e.flags.includes('icmp-error') || e.kind === 'ptb' || e.kind === 'ptb-sent' ? e.inner : e;
    if (f && f.proto === proto) counts.set(flowKey({ src: f.src!, dst: f.dst!, sport: f.sport ?? 0, dport: f.dport ?? 0, proto }), (counts.get(flowKey({ src: f.src!, dst: f.dst!, sport: f.sport ?? 0, dport: f.dport ?? 0, proto })) ?? 0) + 1);
  }
  const busiest = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  return c.verdicts().find((v) => flowKey(v.flow) === busiest)!;
}

/** A deterministic shuffle (mulberry32). */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const ALL = ['rp-filter', 'router-bottleneck', 'healthy', 'firewall', 'silent-blackhole', 'mss-clamp', 'bridge-port'];

describe('verdicts of recorded scenarios', () => {
  it('healthy path: every flow ok, nothing else', () => {
    const verdicts = run(stream('healthy')).c.verdicts();
    expect(verdicts.length).toBeGreaterThan(0);
    expect(verdicts.map((v) => v.verdict)).toEqual(verdicts.map(() => 'ok'));
    expect(verdicts.every((v) => v.fix === null)).toBe(true);
  });

  it('router bottleneck: ptb-honored at r1 (the router address, MTU 1500), and the sender learned it', () => {
    const v = main(stream('router-bottleneck'), 'tcp');
    expect(v).toMatchObject({ verdict: 'ptb-honored', cause: null, mtu: 1500, where: { netns: 'r1', iface: 'to-r2', hop: '198.18.1.1' } });
    expect(v.notes.join('\n')).toContain("sender's kernel (c) cached path MTU 1500");
    const v6 = main(stream('router-bottleneck'), 'icmpv6');
    expect(v6).toMatchObject({ verdict: 'ptb-honored', mtu: 1500, where: { hop: '2001:db8:1::1' } });
  });

  it('rp_filter: ptb-dropped at c/to-r1, PTB from the management address advertising 1500; fix warns about loose mode', () => {
    for (const proto of ['tcp', 'icmp']) {
      const v = main(stream('rp-filter'), proto);
      expect(v).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', mtu: 1500, where: { netns: 'c', iface: 'to-r1', hop: '198.19.0.1' } });
      expect(v.fix).toMatch(/rp_filter=2/);
      expect(v.fix).toMatch(/WARNING/);
      expect(v.evidence.map((e) => e.kind)).toEqual(expect.arrayContaining(['ptb-sent', 'drop']));
    }
  });

  it("firewall: ptb-dropped, cause firewall, at c's interface, with the PTB's source and MTU", () => {
    const v = main(stream('firewall'), 'tcp');
    expect(v).toMatchObject({ verdict: 'ptb-dropped', cause: 'firewall', mtu: 1500, where: { netns: 'c', iface: 'to-r1', hop: '198.18.1.1' } });
    expect(v.fix).toMatch(/nft insert rule inet filter input icmp type destination-unreachable icmp code frag-needed accept/);
  });

  it("silent black hole: r1's own firewall eats its PTB; r1's egress interface, MTU and the bounds", () => {
    const v = main(stream('silent-blackhole'), 'tcp');
    expect(v).toMatchObject({ verdict: 'silent-blackhole', cause: 'firewall', mtu: 1500, where: { netns: 'r1', iface: 'to-r2' } });
    expect(v.bounds?.largestOk).toBe(1500);
    expect(v.bounds?.smallestLost).toBeGreaterThan(1500);
  });

  it('MSS clamping: ok, noting what each end sent and the other received', () => {
    const v = main(stream('mss-clamp'), 'tcp');
    expect(v.verdict).toBe('ok');
    expect(v.notes).toEqual([
      expect.stringMatching(/MSS rewritten on the path: 198\.18\.1\.2 sent 8960 .* 198\.18\.3\.2 received 1460/),
      expect.stringMatching(/MSS rewritten on the path: 198\.18\.3\.2 sent 8960 .* 198\.18\.1\.2 received 1460/),
    ]);
  });

  it('bridge port: local-bottleneck at layer 2 naming the port, its MTU and the frame size', () => {
    const [v] = run(stream('bridge-port')).c.verdicts();
    expect(v).toMatchObject({ verdict: 'local-bottleneck', cause: 'layer2', mtu: 1500, where: { netns: 'hv', iface: 'p-g2' }, bounds: { smallestLost: 8028 } });
    expect(v!.fix).toBe('ip netns exec hv ip link set dev p-g2 mtu 8028 (match the MTU of the bridge / the other end), or lower the senders\' MTU to 1500.');
  });
});

describe('determinism', () => {
  it.each(ALL)('%s: the same final verdicts in any order', (name) => {
    const events = stream(name);
    const expected = finals(events);
    for (const seed of [1, 2, 3]) expect(finals(shuffled(events, seed))).toEqual(expected);
  });

  it.each(ALL)('%s: duplicated events change nothing', (name) => {
    const events = stream(name);
    expect(finals(events.flatMap((e) => [e, e]))).toEqual(finals(events));
  });

  it('a repeat of the last event emits no verdict line', () => {
    const events = stream('rp-filter');
    const { c } = run(events);
    expect(c.push(events.at(-1)!)).toEqual([]);
  });

  it('emits a verdict line only when the verdict changes', () => {
    const { changes } = run(stream('rp-filter'));
    const byFlow = new Map<string, VerdictJson[]>();
    for (const v of changes) byFlow.set(flowKey(v.flow), [...(byFlow.get(flowKey(v.flow)) ?? []), v]);
    for (const list of byFlow.values()) {
      for (let i = 1; i < list.length; i++) {
        expect({ ...gist(list[i]!), notes: list[i]!.notes }).not.toEqual({ ...gist(list[i - 1]!), notes: list[i - 1]!.notes });
      }
    }
  });
});

describe('partial visibility', () => {
  it('flows that started before the observer (no SYN seen) still get their verdict', () => {
    const events = stream('rp-filter').filter((e) => e.kind !== 'syn');
    expect(main(events, 'tcp')).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', where: { netns: 'c' } });
  });

  it('watching only the router: the PTB it sent, and what it could not see', () => {
    const events = stream('router-bottleneck').filter((e) => e.netns === 'r1' && e.kind !== 'route');
    const v = main(events, 'tcp');
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1500, where: { netns: 'r1', iface: 'to-r2' } });
    expect(v.notes).toContain('did not see the PTB arrive at the sender (its interface is not watched)');
  });

  it('a PTB that reached a host whose kernel cached nothing, with no drop seen: not applied', () => {
    const events = stream('router-bottleneck').map((e) => (e.kind === 'route' ? ({ ...e, mtu: 0, learned: false } satisfies RouteEventJson) : e));
    expect(main(events, 'tcp')).toMatchObject({ verdict: 'ptb-dropped', cause: 'not-applied', mtu: 1500, where: { netns: 'c' } });
  });
});

describe('bounds on memory', () => {
  const syn = (i: number, ts: number): EventJson => ({
    type: 'event',
    kind: 'syn',
    ts,
    netns: 'c',
    iface: 'eth0',
    dir: 'egress',
    src: '198.18.0.1',
    dst: '198.18.0.2',
    sport: 10000 + i,
    dport: 443,
    proto: 'tcp',
    mtu: 1500,
    mss: 1460,
    flags: [],
  });

  /** A frag-needed from a router quoting a flow (c's TCP connection to s unless changed). */
  const spoofedPtb = (ts: number): EventJson => ({
    type: 'event',
    kind: 'ptb',
    ts,
    netns: 'c',
    iface: 'eth0',
    dir: 'ingress',
    src: '198.19.0.1',
    dst: '198.18.0.1',
    proto: 'icmp',
    mtu: 1400,
    inner: { src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 443, proto: 'tcp', len: 1500 },
    flags: ['df', 'icmp-error'],
  });

  it('keeps at most maxFlows flows and counts what it evicted', () => {
    const c = new Correlator({ maxFlows: 10 });
    for (let i = 0; i < 100; i++) c.push(syn(i, 1000 + i));
    expect(c.stats()).toMatchObject({ flows: 10, evicted: 90, events: 100 });
  });

  it.each(ALL)('%s, in a full table: a flow made as one is evicted has none of its facts', (name) => {
    // Every flow of the stream evicts the one before it (a table of one), whatever it had gathered.
    const c = new Correlator({ maxFlows: 1 });
    const events = stream(name);
    run(events, c);
    const last = events[events.length - 1]!;
    const fresh = syn(0, last.ts + 1);
    expect(c.push(fresh)).toEqual(new Correlator().push(fresh));
    expect(c.verdicts()).toEqual(run([fresh]).c.verdicts());
  });

  it('forgets flows idle longer than idleMs (event time)', () => {
    const c = new Correlator({ idleMs: 60_000 });
    for (let i = 0; i < 5; i++) c.push(syn(i, 1000));
    c.push(syn(99, 1000 + 61_000));
    expect(c.stats()).toMatchObject({ flows: 1, expired: 5 });
  });

  it('a flood of PTBs quoting flows never seen: no verdict, each counted as unmatched, memory bounded', () => {
    const c = new Correlator({ maxUnconfirmed: 1000 });
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0);
    const heapBefore = process.memoryUsage().heapUsed;
    let verdictLines = 0;
    for (let i = 0; i < 50_000; i++) {
      const r = rand();
      verdictLines += c.push({
        ...spoofedPtb(i),
        src: `198.19.${(r >>> 8) & 255}.${r & 255}`,
        mtu: 68 + (r % 1400),
        inner: { src: '198.18.0.1', dst: `203.0.${(r >>> 16) & 255}.${(r >>> 24) & 255}`, sport: r & 0xffff, dport: (r >>> 7) & 0xffff, proto: 'tcp', len: 1500 },
      }).length;
    }
    expect(verdictLines).toBe(0);
    expect(c.verdicts()).toEqual([]);
    expect(c.stats()).toMatchObject({ flows: 0, unmatched: 50_000, events: 50_000 });
    // 1000 flows of at most 32 facts each: a few MB, whatever the flood's length.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it('a PTB that came before the flow was seen makes its verdict once the flow is seen, as in the other order', () => {
    const ptb = spoofedPtb(5);
    const own = { ...syn(0, 10), src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 443 };
    const first = new Correlator();
    expect(first.push(ptb)).toEqual([]);
    expect(first.stats()).toMatchObject({ flows: 0, unmatched: 1 });
    const [v] = first.push(own);
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1400, where: { hop: '198.19.0.1' } });
    expect(first.stats()).toMatchObject({ flows: 1, unmatched: 0 });
    const second = new Correlator();
    second.push(own);
    second.push(ptb);
    expect(second.verdicts().map((x) => ({ ...x, ts: 0 }))).toEqual(first.verdicts().map((x) => ({ ...x, ts: 0 })));
  });

  it('confirmed(): whether the flow an event quotes is tracked, right after push() and for any other event alike', () => {
    const c = new Correlator();
    const own = { ...syn(0, 10), src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 443 };
    const ptb = spoofedPtb(20);
    const mismatch: EventJson = { ...spoofedPtb(21), flags: ['df', 'icmp-error', 'quote-mismatch'] };
    c.push(ptb);
    expect(c.confirmed(ptb)).toBe(false);
    c.push(own);
    expect(c.confirmed(own)).toBe(true);
    expect(c.confirmed(ptb)).toBe(true); // the flow it quoted is seen now
    // Never judged, but about a flow that is tracked (the route probe asks).
    expect(c.push(mismatch)).toEqual([]);
    expect(c.confirmed(mismatch)).toBe(true);
    // The other direction of the flow is the same flow.
    const back = { ...own, src: own.dst, dst: own.src, sport: own.dport, dport: own.sport, flags: ['synack'] };
    c.push(back);
    expect(c.confirmed(back)).toBe(true);
    expect(c.stats()).toMatchObject({ flows: 1, unmatched: 1, events: 4 });
    const other = { ...own, sport: 40001 };
    expect(c.confirmed(other)).toBe(false);
  });

  it('a flood of one quoted flow set aside keeps its last 32 errors: the flow seen later gets the verdict of the last ones', () => {
    const c = new Correlator();
    for (let i = 0; i < 1000; i++) c.push({ ...spoofedPtb(100 + i), mtu: i < 990 ? 1400 : 1300 });
    expect(c.stats()).toMatchObject({ flows: 0, unmatched: 1000 });
    const [v] = c.push({ ...syn(0, 5000), src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 443 });
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1300 });
    expect(v!.evidence.filter((e) => e.kind === 'ptb').map((e) => e.what)).toEqual([
      'PTB ingress from 198.19.0.1 to 198.18.0.1 advertising MTU 1400',
      'PTB ingress from 198.19.0.1 to 198.18.0.1 advertising MTU 1300',
    ]);
    expect(c.stats()).toMatchObject({ flows: 1, unmatched: 0, events: 1001 });
  });

  it('counts ICMP errors that quote nothing as unmatched, without a verdict', () => {
    const c = new Correlator();
    const out = c.push({ type: 'event', kind: 'ptb', ts: 1, netns: 'c', iface: 'eth0', dir: 'ingress', src: '198.18.0.9', dst: '198.18.0.1', mtu: 1400, flags: ['icmp-error', 'inner-truncated'] });
    expect(out).toEqual([]);
    expect(c.stats()).toMatchObject({ flows: 0, unmatched: 1 });
  });
});

describe('verdictCounts', () => {
  it.each(ALL)('%s: the same counts as grouping verdicts()', (name) => {
    const counted = run(stream(name)).c.verdictCounts();
    const byVerdicts = new Map<string, number>();
    for (const v of run(stream(name)).c.verdicts()) byVerdicts.set(`${v.verdict}|${v.cause}`, (byVerdicts.get(`${v.verdict}|${v.cause}`) ?? 0) + 1);
    expect(new Map(counted.map((c) => [`${c.verdict}|${c.cause}`, c.flows]))).toEqual(byVerdicts);
  });
});

describe('packets lost between two capture points (analyze)', () => {
  const flow = { src: '198.18.1.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp' };
  const syn: EventJson = { type: 'event', kind: 'syn', ts: 1000, netns: 'a', iface: 'a', dir: null, ...flow, len: 60, mss: 8960, flow: { known: true, since: 1000, initiator: 'src' }, flags: ['df'] };
  const lost = (ts: number, count: number, passed: number, passedLargest: number, smallest = 9000): EventJson => ({
    type: 'event',
    kind: 'lost',
    ts,
    netns: 'a',
    iface: 'a',
    dir: null,
    ...flow,
    lost: { netns: 'b', iface: 'b', count, smallest, largest: 9000, df: count, passed, passedLargest },
    flags: ['df'],
  });
  const stream = [syn, lost(2000, 1, 2, 77), lost(2100, 2, 2, 77), lost(2600, 4, 2, 77), lost(3000, 4, 5, 1400)];

  it('a size-dependent loss is a silent black hole between the two points, whatever order and repeats its events come in', () => {
    const want = finals(stream);
    expect(want).toEqual([expect.objectContaining({ verdict: 'silent-blackhole', cause: 'no-ptb', where: { netns: 'a', iface: 'a', hop: null, next: { netns: 'b', iface: 'b' } }, bounds: { largestOk: 1400, smallestLost: 9000 } })]);
    for (let seed = 1; seed <= 20; seed++) expect(finals(shuffled([...stream, ...stream.slice(1, 3)], seed))).toEqual(want);
  });

  it('one lost packet alone is no pattern: said in the evidence, no black hole', () => {
    const { c } = run([syn, lost(2000, 1, 2, 77)]);
    const [v] = c.verdicts();
    expect(v).toMatchObject({ verdict: 'ok', where: { netns: null } });
    expect(v!.evidence.map((e) => e.what)).toContain('a packet of 9000 bytes (DF) from 198.18.1.2 seen at a never reached b, while 2 of up to 77 bytes did');
  });

  it('a loss of sizes that also got through is plain loss: said in the evidence of an ok verdict', () => {
    const { c } = run([syn, lost(2000, 3, 40, 1500, 600)]);
    const [v] = c.verdicts();
    expect(v).toMatchObject({ verdict: 'ok', bounds: null });
    expect(v!.evidence.map((e) => e.what)).toContain('3 packets of 600-9000 bytes (DF) from 198.18.1.2 seen at a never reached b, while packets as large (up to 1500 bytes) did: plain loss, not an MTU problem');
  });
});
