import { describe, expect, it } from 'vitest';

import type { IncidentJson } from '../../src/contract/cluster.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { inPrefix, parseAddr } from '../../src/web/addr.js';
import { incidentPath, tracePath, verdictPath } from '../../src/web/path.js';
import { nodeA, nodeB } from './fixtures.js';

const flow = { src: '198.18.3.2', dst: '198.18.1.2', sport: 4433, dport: 40000, proto: 'tcp' };
const dropped: VerdictJson & { node: string } = {
  type: 'verdict',
  ts: 1,
  verdict: 'ptb-dropped',
  cause: 'rp_filter',
  flow,
  where: { netns: 's', iface: 'to-r2', hop: '198.19.0.1' },
  mtu: 1500,
  bounds: null,
  fix: null,
  evidence: [],
  notes: [],
  node: 'node-b',
};

describe('addresses', () => {
  it('matches prefixes of both families', () => {
    expect(inPrefix('198.18.3.2', '198.18.3.0/24', 4)).toBe(true);
    expect(inPrefix('198.18.4.2', '198.18.3.0/24', 4)).toBe(false);
    expect(inPrefix('2001:db8::5', '2001:db8::/32', 6)).toBe(true);
    expect(inPrefix('2001:db9::5', '2001:db8::/32', 6)).toBe(false);
    expect(inPrefix('2001:db8::5', 'default', 6)).toBe(true);
    expect(inPrefix('198.18.0.1', 'default', 6)).toBe(false);
    expect(parseAddr('2001:db8::1:0:0:1')?.value).toBe(0x20010db8000000000001000000000001n);
    for (const bad of ['1.2.3', '300.1.1.1', '1::2::3', 'x']) expect(parseAddr(bad)).toBeUndefined();
  });
});

describe('tracePath', () => {
  it('follows routes across veth pairs and across the two nodes: s → r2 → r1 → c, with each interface and MTU', () => {
    const { steps, gap } = tracePath([nodeA, nodeB], flow);
    expect(gap).toBeNull();
    expect(steps.map((s) => `${s.node}:${s.netns}[${s.in?.name ?? ''} ${s.in?.mtu ?? ''}|${s.out?.name ?? ''} ${s.out?.mtu ?? ''}]`)).toEqual([
      'node-b:s[ |to-r2 9000]',
      'node-a:r2[to-s 9000|to-r1 1500]',
      'node-a:r1[to-r2 1500|to-c 9000]',
      'node-a:c[to-r1 9000| ]',
    ]);
    expect(steps[0]!.holds).toEqual(['src']);
    expect(steps[3]!.holds).toEqual(['dst']);
  });

  it('says where it stops when the configuration read does not reach the end', () => {
    expect(tracePath([nodeB], flow).gap).toBe('198.18.2.1 (via to-r1) is beyond what was read'); // r2 was read through s's veth
    expect(tracePath([], flow)).toEqual({ steps: [], gap: 'no namespace read holds 198.18.3.2' });
  });

  it('a verdict marks the hop that sent the PTB (r2, whose loopback holds 198.19.0.1) and the interface where it died (s/to-r2)', () => {
    const p = verdictPath([nodeA, nodeB], dropped);
    expect(p.marks).toEqual([
      { kind: 'ptb-sender', node: 'node-a', netns: 'r2', iface: 'lo', label: 'PTB from 198.19.0.1, MTU 1500', step: 1 },
      { kind: 'died', node: 'node-b', netns: 's', iface: 'to-r2', label: 'PTB dropped here (rp_filter)', step: 0 },
    ]);
  });

  it("an incident marks each node's part", () => {
    const inc: IncidentJson = {
      type: 'incident',
      id: 'x',
      ts: 1,
      verdict: 'ptb-dropped',
      cause: 'rp_filter',
      flow,
      mtu: 1500,
      hop: '198.19.0.1',
      nodes: ['node-a', 'node-b'],
      summary: '',
      fix: null,
      parts: [
        { node: 'node-a', role: 'ptb-sent', netns: 'r2', iface: 'to-r1', hop: '198.19.0.1', mtu: 1500, reason: null, ts: 1, count: 1, what: 'r2 sent a PTB' },
        { node: 'node-b', role: 'ptb-dropped', netns: 's', iface: 'to-r2', hop: '198.19.0.1', mtu: 1500, reason: 'IP_RPFILTER', ts: 1, count: 1, what: 's dropped it' },
      ],
    };
    expect(incidentPath([nodeA, nodeB], inc).marks.map((m) => [m.kind, m.node, m.netns, m.iface, m.step])).toEqual([
      ['ptb-sender', 'node-a', 'r2', 'to-r1', 1],
      ['died', 'node-b', 's', 'to-r2', 0],
    ]);
  });

  it('stops at a routing loop and at MAX_STEPS', () => {
    const loop = structuredClone(nodeA);
    const r1 = loop.namespaces.find((n) => n.name === 'r1')!;
    r1.routes = [{ family: 4, dst: 'default', gateway: '198.18.2.2', dev: 'to-r2', mtu: 0 }];
    const r2 = loop.namespaces.find((n) => n.name === 'r2')!;
    r2.routes = [{ family: 4, dst: 'default', gateway: '198.18.2.1', dev: 'to-r1', mtu: 0 }];
    expect(tracePath([loop], { ...flow, src: '198.18.1.2', dst: '198.51.100.1' }).gap).toBe('a routing loop at r1');
  });
});
