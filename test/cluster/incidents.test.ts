// Incidents across nodes, on streams recorded from the rp-filter scenario
// split in two (test/fixtures/cluster/: `live --json` on c, r1, r2, m as
// one node and on s as the other; namespace names shortened to their
// roles), and on synthetic ones.

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { IncidentCorrelator } from '../../src/cluster/incidents.js';
import type { IncidentJson, NodeEventJson, NodeVerdictJson } from '../../src/contract/cluster.js';
import type { CorrelatorEvent } from '../../src/contract/event.js';
import type { VerdictJson } from '../../src/contract/verdict.js';

type Line = (CorrelatorEvent | VerdictJson) & { node: string };

function stream(file: string, node: string): Line[] {
  return readFileSync(new URL(`../fixtures/cluster/${file}`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ ...(JSON.parse(l) as CorrelatorEvent | VerdictJson), node }));
}

/** Both nodes' lines in time order, as cluster receives them. */
function merged(...streams: Line[][]): Line[] {
  return streams.flat().sort((a, b) => a.ts - b.ts);
}

function run(c: IncidentCorrelator, lines: Line[]): IncidentJson[] {
  const out: IncidentJson[] = [];
  for (const l of lines) out.push(...(l.type === 'verdict' ? c.verdict(l as NodeVerdictJson) : c.event(l as NodeEventJson)));
  return out;
}

const routers = stream('rp-filter-routers.jsonl', 'node-a');
const server = stream('rp-filter-server.jsonl', 'node-b');

describe('IncidentCorrelator on the recorded rp-filter split', () => {
  it("makes one incident of r2's PTB (node-a) and s's rp_filter drop of it (node-b), naming both", () => {
    const c = new IncidentCorrelator();
    const out = run(c, merged(routers, server));
    const tcp = c.incidents().find((i) => i.flow.proto === 'tcp')!;
    expect(tcp).toBeDefined();
    expect(tcp).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', mtu: 1500, hop: '198.19.0.1', nodes: ['node-a', 'node-b'] });
    expect(tcp.parts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ node: 'node-a', role: 'ptb-sent', netns: 'r2', iface: 'to-r1', hop: '198.19.0.1', mtu: 1500 }),
        expect.objectContaining({ node: 'node-b', role: 'ptb-dropped', netns: 's', iface: 'to-r2', reason: 'IP_RPFILTER' }),
      ]),
    );
    expect(tcp.summary).toBe(
      'node node-a (r2) sent a PTB from 198.19.0.1 advertising MTU 1500; node node-b dropped it at s/to-r2 (rp_filter): the sender never learns the path MTU',
    );
    // The fix is node-b's own verdict's: it knows its namespace.
    expect(tcp.fix).toMatch(/let s route 198\.19\.0\.1 back through to-r2/);
    // Emitted when formed and when it changed (the fix arrived), not for every repeat of the same PTB.
    expect(out.filter((i) => i.id === tcp.id).length).toBeLessThanOrEqual(3);
    // The pings' flow (icmp) is an incident of its own.
    expect(c.incidents().map((i) => i.flow.proto).sort()).toEqual(['icmp', 'tcp']);
  });

  it('makes none from one node alone: its router dropping too-big packets and sending PTBs is how PMTUD works', () => {
    const c = new IncidentCorrelator();
    expect(run(c, routers)).toEqual([]);
    expect(run(new IncidentCorrelator(), server)).toEqual([]);
  });

  it("makes the same incident from node-b's snapshot verdict alone, after a reconnect (no events replayed)", () => {
    const c = new IncidentCorrelator();
    run(c, routers);
    const v = server.filter((l) => l.type === 'verdict' && l.verdict === 'ptb-dropped' && l.flow.proto === 'tcp').at(-1) as NodeVerdictJson;
    const [inc] = c.verdict(v);
    expect(inc).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', nodes: ['node-a', 'node-b'] });
  });
});

describe('IncidentCorrelator on synthetic streams', () => {
  const flow = { src: '198.18.3.2', dst: '198.18.1.2', sport: 443, dport: 40000, proto: 'tcp' };
  const inner = { ...flow, len: 4000 };
  const sent = (node: string, ts: number): NodeEventJson => ({ type: 'event', kind: 'ptb-sent', ts, netns: 'r', iface: 'eth0', dir: null, dst: flow.src, mtu: 1400, len: 4000, mtuIface: 'eth1', inner, flags: ['df', 'icmp-error', 'local'], node });
  const ptbDrop = (node: string, ts: number, reason: string): NodeEventJson => ({ type: 'event', kind: 'drop', ts, netns: 'host', iface: 'eth0', dir: null, src: '198.18.9.1', dst: flow.src, mtu: 1400, len: 576, reason, inner, flags: ['icmp-error'], node });
  const oversize = (node: string, ts: number): NodeEventJson => ({ type: 'event', kind: 'drop', ts, netns: 'pod', iface: 'cni0', dir: null, ...flow, mtu: 1450, len: 4000, reason: 'NOT_SPECIFIED', flags: ['df', 'oversize'], node });

  it('a firewall on another node eating the PTB: cause firewall, its fix allows ICMP type 3 code 4', () => {
    const c = new IncidentCorrelator();
    c.event(sent('a', 1000));
    const [inc] = c.event(ptbDrop('b', 1001, 'NETFILTER_DROP'));
    expect(inc).toMatchObject({ verdict: 'ptb-dropped', cause: 'firewall', nodes: ['a', 'b'], mtu: 1400 });
    expect(inc!.fix).toMatch(/On node b: allow ICMP type 3 code 4/);
  });

  it("the flow's too-big packets dropped on another node: an oversize incident", () => {
    const c = new IncidentCorrelator();
    c.event(sent('a', 1000));
    const [inc] = c.event(oversize('b', 1002));
    expect(inc).toMatchObject({ verdict: 'local-bottleneck', cause: 'oversize', nodes: ['a', 'b'] });
    expect(inc!.parts.map((p) => p.role)).toEqual(['ptb-sent', 'oversize-drop']);
  });

  it('parts further apart than the window are not one incident', () => {
    const c = new IncidentCorrelator({ windowMs: 60_000 });
    c.event(sent('a', 1000));
    expect(c.event(ptbDrop('b', 1000 + 61_000, 'IP_RPFILTER'))).toEqual([]);
  });

  it('stays bounded: the least recently active flows are forgotten', () => {
    const c = new IncidentCorrelator({ maxFlows: 100 });
    for (let i = 0; i < 10_000; i++) c.event({ ...sent('a', i), inner: { ...inner, dport: 1 + (i % 60000) } } as NodeEventJson);
    expect(c.size).toBe(100);
  });

  it("a node's parts go with the node", () => {
    const c = new IncidentCorrelator();
    c.event(sent('a', 1000));
    c.event(ptbDrop('b', 1001, 'IP_RPFILTER'));
    c.forget('b');
    expect(c.incidents()).toEqual([]);
  });
});
