// The correlator on events that carry the kernel flow table's state (0.2 on):
// a flow the kernel knew is confirmed by its PTB alone, forged quotes and
// unknown flows are never judged, the MSS notes come from the state, and a PTB
// below the kernel's floor is reported as what the kernel does with it.

import { describe, expect, it } from 'vitest';

import { Correlator } from '../../src/correlate/correlator.js';
import type { EventJson, FlowStateJson } from '../../src/contract/event.js';

const C = '198.18.0.2';
const S = '198.18.3.2';
const R1 = '198.18.1.1';
const TCP = { src: C, dst: S, sport: 40000, dport: 443, proto: 'tcp' } as const;

const KNOWN: FlowStateJson = {
  known: true,
  since: 999,
  initiator: 'src',
  syn: { first: 8960, firstIface: 'to-r1', last: 8960, lastIface: 'to-r1' },
  synAck: { first: 8960, firstIface: 'to-r1', last: 8960, lastIface: 'to-r1' },
  largest: { fwd: 8948, rev: 0 },
  minMtu: { mtu: 9000, iface: 'to-r1' },
};

function ptb(over: Partial<EventJson> = {}): EventJson {
  return {
    type: 'event',
    kind: 'ptb',
    ts: 1000,
    netns: 'c',
    iface: 'to-r1',
    dir: 'ingress',
    src: R1,
    dst: C,
    sport: 0,
    dport: 0,
    proto: 'icmp',
    mtu: 1500,
    len: 576,
    inner: { ...TCP, len: 8948 },
    flow: KNOWN,
    flags: ['df', 'icmp-error'],
    ...over,
  };
}

function syn(flow: FlowStateJson, over: Partial<EventJson> = {}): EventJson {
  return { type: 'event', kind: 'syn', ts: 1000, netns: 'r1', iface: 'to-r2', dir: 'egress', ...TCP, mtu: 1500, len: 60, mss: flow.syn?.last ?? 0, flow, flags: ['df'], ...over };
}

describe('Correlator with kernel flow state', () => {
  it('a PTB for a flow the kernel knew is judged on its own: no SYN event needed', () => {
    const c = new Correlator();
    const [v] = c.push(ptb());
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1500, where: { hop: R1 } });
    expect(v!.flow).toMatchObject({ src: C, dst: S });
    expect(v!.notes).toContain(`MSS: ${C} sent 8960`);
    expect(c.stats().unmatched).toBe(0);
  });

  it('a PTB quoting a packet its destination cannot have sent (quote-mismatch) is unmatched, whatever follows', () => {
    const c = new Correlator();
    expect(c.push(ptb({ flags: ['df', 'icmp-error', 'quote-mismatch'], flow: { known: false } }))).toEqual([]);
    expect(c.stats()).toMatchObject({ unmatched: 1, flows: 0 });
    // Even a known flow's mismatching PTB makes no verdict.
    expect(c.push(ptb({ ts: 1001, mtu: 68, flags: ['df', 'icmp-error', 'quote-mismatch'] }))).toEqual([]);
    expect(c.stats()).toMatchObject({ unmatched: 2, flows: 0 });
  });

  it('a PTB for a flow no hook saw is unmatched until a packet of the flow itself is seen', () => {
    const c = new Correlator();
    expect(c.push(ptb({ flow: { known: false } }))).toEqual([]);
    expect(c.stats()).toMatchObject({ unmatched: 1, flows: 0 });
    expect(c.verdicts()).toEqual([]);
  });

  it('a PTB leaving from a local socket (a raw socket can send any) confirms nothing unless the kernel knew the flow', () => {
    const c = new Correlator();
    const local = ptb({ dir: 'egress', netns: 'x', flow: { known: false }, flags: ['df', 'icmp-error', 'local'] });
    expect(c.push(local)).toEqual([]);
    expect(c.push({ ...local, kind: 'ptb-sent', ts: 1001 })).toEqual([]); // IPv6's, from a tc hook
    expect(c.stats()).toMatchObject({ unmatched: 2, flows: 0 });
    // The IPv4 stack's own (icmp_send tracepoint: no direction) is about a packet it had.
    const generated = ptb({ kind: 'ptb-sent', dir: null, src: undefined, dst: C, flow: { known: false }, flags: ['icmp-error', 'local'] });
    expect(c.push(generated).map((v) => v.verdict)).toEqual(['ptb-honored']);
  });

  it('a PTB advertising less than the kernel accepts is reported at the floor (552 for IPv4), never "honored at 68"', () => {
    const [v] = new Correlator().push(ptb({ mtu: 68 }));
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 552 });
    expect(v!.notes.join('\n')).toMatch(/advertises MTU 68, below the smallest path MTU the kernel accepts \(552, net.ipv4.route.min_pmtu\): it uses 552/);
  });

  it('IPv6: below 1280 the kernel uses 1280', () => {
    const inner = { src: '2001:db8::2', dst: '2001:db8:3::2', sport: 40000, dport: 443, proto: 'tcp', len: 8940 };
    const [v] = new Correlator().push(ptb({ src: '2001:db8:1::1', dst: '2001:db8::2', proto: 'icmpv6', mtu: 1000, inner }));
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1280 });
  });

  it('an MSS the kernel saw rewritten between two hooks of a router: ok, with both ends named', () => {
    const state: FlowStateJson = { ...KNOWN, syn: { first: 8960, firstIface: 'to-c', last: 1360, lastIface: 'to-r2' } };
    const [v] = new Correlator().push(syn(state, { mss: 1360 }));
    expect(v).toMatchObject({ verdict: 'ok' });
    expect(v!.notes).toContain(`MSS rewritten on the path: ${C} sent 8960 (seen at r1/to-c), ${S} received 1360 (seen at r1/to-r2)`);
    // The SYN-ACK's MSS was not rewritten: said plainly.
    expect(v!.notes).toContain(`MSS: ${S} sent 8960`);
  });

  it('an MSS larger than the smallest hook the flow crossed: mss-exceeds-path at that hook', () => {
    const state: FlowStateJson = { ...KNOWN, syn: { first: 1460, firstIface: 'veth-d', last: 1460, lastIface: 'eth0' }, synAck: undefined, minMtu: { mtu: 1450, iface: 'eth0' } };
    const [v] = new Correlator().push(syn(state, { netns: 'd', iface: 'eth0', mss: 1460 }));
    expect(v).toMatchObject({ verdict: 'mss-exceeds-path', mtu: 1450, where: { netns: 'd', iface: 'eth0' } });
  });

  it('an MSS clamped at r1 after r2 saw it unclamped at a 1500 hook: what c received fits, so ok', () => {
    const c = new Correlator();
    // r2: the SYN-ACK leaves towards r1 (1500) still saying 8960.
    const r2 = syn({ ...KNOWN, syn: { first: 1460, firstIface: 'to-r1', last: 1460, lastIface: 'to-s' }, synAck: { first: 8960, firstIface: 'to-s', last: 8960, lastIface: 'to-r1' }, minMtu: { mtu: 1500, iface: 'to-r1' } }, { netns: 'r2', ts: 1000 });
    // r1 rewrites both directions to 1460.
    const r1 = syn({ ...KNOWN, syn: { first: 8960, firstIface: 'to-c', last: 1460, lastIface: 'to-r2' }, synAck: { first: 8960, firstIface: 'to-r2', last: 1460, lastIface: 'to-c' }, minMtu: { mtu: 1500, iface: 'to-r2' } }, { netns: 'r1', ts: 1001 });
    c.push(r2);
    const [v] = c.push(r1);
    expect(v).toMatchObject({ verdict: 'ok' });
    expect(v!.notes.filter((n) => n.startsWith('MSS rewritten'))).toHaveLength(2);
  });

  it('the state of each namespace is the latest one, whatever order the events came in', () => {
    const early = syn({ ...KNOWN, largest: { fwd: 1500, rev: 0 } }, { ts: 1000 });
    const late = syn({ ...KNOWN, syn: { first: 8960, firstIface: 'to-c', last: 1360, lastIface: 'to-r2' } }, { ts: 2000 });
    const a = new Correlator();
    a.push(early);
    a.push(late);
    const b = new Correlator();
    b.push(late);
    b.push(early);
    expect(a.verdicts()[0]!.notes).toEqual(b.verdicts()[0]!.notes);
    expect(a.verdicts()[0]!.notes.join('\n')).toMatch(/rewritten/);
  });
});

describe('Correlator: retransmission timeouts', () => {
  function rtx(ts: number, timeouts: number): EventJson {
    return { type: 'event', kind: 'retransmit', ts, netns: 'c', iface: 'to-r1', dir: 'egress', ...TCP, mtu: 9000, len: 8960, mss: 8908, timeouts, flow: KNOWN, flags: ['df'] };
  }

  it('one timeout (a lost tail, repaired) is no black hole, however many segments it resends', () => {
    const c = new Correlator();
    for (let i = 0; i < 5; i++) c.push(rtx(1000 + i, 1));
    expect(c.verdicts().map((v) => v.verdict)).toEqual(['ok']);
  });

  it('the same segment timing out twice in a row is a silent black hole, and the evidence says so', () => {
    const c = new Correlator();
    c.push(rtx(1000, 1));
    const [v] = c.push(rtx(1400, 2));
    expect(v).toMatchObject({ verdict: 'silent-blackhole', cause: 'no-ptb', bounds: { smallestLost: 8960 } });
    expect(v!.evidence.map((e) => e.what).join('\n')).toMatch(/2 timeouts in a row \(the RTO backing off\)/);
  });
});

describe('MSS rewritten between namespaces', () => {
  it("two capture points (analyze), each knowing only its own hooks: the SYNs' MSS at each shows the rewrite", () => {
    const at = (netns: string, mss: number): FlowStateJson => ({ ...KNOWN, syn: { first: mss, firstIface: 'eth0', last: mss, lastIface: 'eth0' }, synAck: undefined });
    const c = new Correlator();
    c.push(syn(at('c', 8960), { netns: 'c', iface: 'eth0', ts: 1000, mss: 8960 }));
    c.push(syn(at('s', 1460), { netns: 's', iface: 'eth0', ts: 1001, mss: 1460 }));
    // The SYN-ACK back, clamped the same way.
    const back = { src: S, dst: C, sport: 443, dport: 40000, flags: ['df', 'synack'] as EventJson['flags'] };
    c.push(syn(at('s', 8960), { ...back, netns: 's', iface: 'eth0', ts: 1002, mss: 8960 }));
    c.push(syn(at('c', 1460), { ...back, netns: 'c', iface: 'eth0', ts: 1003, mss: 1460 }));
    const [v] = c.verdicts();
    expect(v!.notes).toContainEqual(expect.stringMatching(/^MSS rewritten on the path: 198\.18\.0\.2 sent 8960 \(seen at c\/eth0\), 198\.18\.3\.2 received 1460 \(seen at s\/eth0\)$/));
  });
});
