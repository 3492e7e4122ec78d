import { describe, expect, it } from 'vitest';

import type { VerdictJson } from '../../src/contract/verdict.js';
import { mtuMap } from '../../src/web/mtumap.js';
import { MAX_FLOWS, PageState } from '../../src/web/shape.js';
import { nodeA, nodeB } from './fixtures.js';

const v = (over: Partial<VerdictJson> & { node?: string } = {}): VerdictJson & { node?: string } => ({
  type: 'verdict',
  ts: 1,
  verdict: 'ptb-dropped',
  cause: 'rp_filter',
  flow: { src: '198.18.3.2', dst: '198.18.1.2', sport: 4433, dport: 40000, proto: 'tcp' },
  where: { netns: 's', iface: 'to-r2', hop: '198.19.0.1' },
  mtu: 1500,
  bounds: null,
  fix: 'route it back',
  evidence: [],
  notes: [],
  ...over,
});

describe('PageState', () => {
  it('lists the troubles worst first with what the table shows; ok and honored flows are not troubles', () => {
    const s = new PageState();
    s.apply({ type: 'snapshot', verdicts: [v({ verdict: 'mss-exceeds-path', cause: null, ts: 5, flow: { src: '198.18.1.2', dst: '198.18.3.2', sport: 1, dport: 2, proto: 'tcp' } })] });
    s.apply(v({ ts: 2 }));
    s.apply(v({ verdict: 'ok', cause: null, flow: { src: '198.18.9.9', dst: '198.18.1.2', sport: 3, dport: 4, proto: 'tcp' } }));
    s.apply(v({ verdict: 'ptb-honored', cause: null, flow: { src: '198.18.9.8', dst: '198.18.1.2', sport: 3, dport: 4, proto: 'tcp' } }));
    expect(s.troubles().map((r) => [r.verdict, r.cause, r.where, r.hop, r.mtu, r.flow, r.fix])).toEqual([
      ['ptb-dropped', 'rp_filter', 's/to-r2', '198.19.0.1', '1500', 'tcp 198.18.3.2:4433 → 198.18.1.2:40000', 'route it back'],
      ['mss-exceeds-path', '', 's/to-r2', '198.19.0.1', '1500', 'tcp 198.18.1.2:1 → 198.18.3.2:2', 'route it back'],
    ]);
  });

  it('keeps the latest verdict of each flow (either direction) per node; a recovered flow leaves the list', () => {
    const s = new PageState();
    s.apply(v({ node: 'a' }));
    s.apply(v({ node: 'b' }));
    expect(s.troubles().map((r) => r.node)).toEqual(['a', 'b']);
    s.apply(v({ node: 'a', verdict: 'ok', flow: { src: '198.18.1.2', dst: '198.18.3.2', sport: 40000, dport: 4433, proto: 'tcp' } }));
    expect(s.troubles().map((r) => r.node)).toEqual(['b']);
  });

  it('stays bounded however long the page stays open', () => {
    const s = new PageState();
    for (let i = 0; i < MAX_FLOWS * 3; i++) s.apply(v({ ts: i, flow: { src: '198.18.3.2', dst: '198.18.1.2', sport: 1 + (i % 65000), dport: 1 + Math.floor(i / 65000), proto: 'tcp' } }));
    expect(s.troubles()).toHaveLength(MAX_FLOWS);
    expect(s.troubles()[0]!.ts).toBe(MAX_FLOWS * 3 - 1);
  });

  it('knows a cluster by its hello, and its nodes and incidents', () => {
    const s = new PageState();
    s.apply({ type: 'hello', cluster: true });
    s.apply({ type: 'node', node: 'b', state: 'down', since: 1, reason: 'HTTP 401', retryMs: 500, url: 'ws://x/feed', source: 'flag', messages: 0 });
    s.apply({ type: 'node', node: 'a', state: 'up', since: 1, reason: null, retryMs: null, url: 'ws://y/feed', source: 'flag', messages: 3 });
    expect(s.cluster).toBe(true);
    expect(s.nodeList().map((n) => [n.node, n.state])).toEqual([
      ['a', 'up'],
      ['b', 'down'],
    ]);
    expect(s.apply({ type: 'event', kind: 'ptb' })).toBe(false);
  });
});

describe('mtuMap', () => {
  it('shows each watched namespace once, veth ends with the far MTU, and flags what audit found', () => {
    const m = mtuMap([nodeA, nodeB]);
    expect(m.map((n) => `${n.node}:${n.netns}`)).toEqual(['node-b:s', 'node-a:c', 'node-a:r1', 'node-a:r2']);
    const s = m[0]!;
    expect(s.flagged).toBe(true);
    expect(s.veths.map((d) => [d.name, d.mtu, d.peer, d.findings.map((f) => f.rule)])).toEqual([
      ['to-r2', 9000, { netns: 'r2', iface: 'to-s', mtu: 9000 }, ['rp-filter-multihomed']],
      ['mgmt0', 1500, { netns: 'm', iface: 'to-s', mtu: null }, []],
    ]);
  });

  it('puts ports under their bridge and tunnels over their underlay', () => {
    const t = structuredClone(nodeA);
    t.namespaces = [
      {
        name: 'hv',
        inScope: true,
        routes: [],
        links: [
          { name: 'br0', ifindex: 3, mtu: 9000, up: true, kind: 'bridge', master: null, peer: null, addresses: [] },
          { name: 'p-g2', ifindex: 4, mtu: 1500, up: true, kind: 'veth', master: 'br0', peer: { netns: 'g2', iface: 'eth0' }, addresses: [] },
          { name: 'eth0', ifindex: 5, mtu: 1500, up: true, kind: '', master: null, peer: null, addresses: [] },
          { name: 'vx0', ifindex: 6, mtu: 1500, up: true, kind: 'vxlan', master: null, peer: null, addresses: [], tunnel: { remote: '198.18.0.2', local: '', lower: 'eth0', overhead: 50 } },
        ],
      },
    ];
    t.findings = [{ rule: 'bridge-port-mtu', severity: 'error', netns: 'hv', device: 'p-g2', related: [{ netns: 'hv', device: 'br0' }], summary: 'port below its bridge' }];
    const [hv] = mtuMap([t]);
    expect(hv!.bridges.map((b) => [b.name, b.ports.map((p) => [p.name, p.mtu, p.findings.length])])).toEqual([['br0', [['p-g2', 1500, 1]]]]);
    expect(hv!.bridges[0]!.findings.map((f) => f.rule)).toEqual(['bridge-port-mtu']);
    expect(hv!.tunnels.map((d) => [d.name, d.tunnel])).toEqual([['vx0', { lower: 'eth0', lowerMtu: 1500, overhead: 50, remote: '198.18.0.2' }]]);
    expect(hv!.others.map((d) => d.name)).toEqual(['eth0']);
  });
});
