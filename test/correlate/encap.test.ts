// The correlator on flows inside tunnels, from recorded event streams
// (test/fixtures/streams/ipip-*.jsonl and vxlan-1500.jsonl, recorded by
// test/observer/encap.kernel.test.ts with PMTU_RECORD_STREAMS=1): an MSS that
// does not fit the tunnel's overhead, a PTB about a tunnel's packet tied to
// the flow inside it, and a drop of a tunnel's packet on both flows.

import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { Correlator, flowKey } from '../../src/correlate/correlator.js';
import { tunnelMss } from '../../src/correlate/encap.js';
import type { CorrelatorEvent, EventJson } from '../../src/contract/event.js';
import type { VerdictJson } from '../../src/contract/verdict.js';

function stream(name: string): CorrelatorEvent[] {
  return readFileSync(new URL(`../fixtures/streams/${name}.jsonl`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CorrelatorEvent);
}

function verdictsOf(events: CorrelatorEvent[]): VerdictJson[] {
  const c = new Correlator();
  for (const e of events) c.push(e);
  return c.verdicts();
}

const CLIENT = '198.18.50.2';
const VIP = '198.18.60.1';

describe('flows inside tunnels', () => {
  it("IPIP SYNs with MSS 1460 over 1500 (seed 004): mss-exceeds-path, encap-overhead, with the arithmetic and the fix", () => {
    const all = verdictsOf(stream('ipip-syn'));
    const v = all.find((x) => x.flow.src === CLIENT && x.flow.sport === 41000)!;
    expect(v).toMatchObject({ verdict: 'mss-exceeds-path', cause: 'encap-overhead', mtu: 1500, flow: { dst: VIP, dport: 443, proto: 'tcp' }, where: { netns: 'lb', iface: 'eth0' } });
    expect(v.notes).toContain(
      'segments of MSS 1460 from 198.18.50.2 travel in 20 bytes of IPIP (198.18.40.1 -> 198.18.40.2): 1460 + 40 (IPv4 + TCP) + 20 (IPIP) = 1520 > MTU 1500 of lb/eth0; MSS 1440 fits, unless 198.18.60.1 advertises at most that',
    );
    expect(v.evidence.some((e) => e.what === 'SYN from 198.18.50.2 inside 20 bytes of IPIP (198.18.40.1 -> 198.18.40.2) advertises MSS 1460')).toBe(true);
    expect(v.fix).toMatch(/clamp the MSS .* to 1440/);
    expect(v.fix).toContain('ipip0, at mtu 1480');
    expect(v.fix).toContain("Calico, a pod MTU of at most 1480 (the Installation's spec.calicoNetwork.mtu, or FelixConfiguration's ipipMTU / vxlanMTU)");
    // Three SYNs, three flows, each judged alike.
    expect(all.filter((x) => x.cause === 'encap-overhead')).toHaveLength(3);
  });

  it('the same verdicts whatever order the events come in', () => {
    const events = stream('ipip-ptb');
    const gist = (vs: VerdictJson[]) => vs.map((v) => ({ f: flowKey(v.flow), v: v.verdict, c: v.cause, w: v.where, m: v.mtu, n: v.notes })).sort((a, b) => a.f.localeCompare(b.f));
    expect(gist(verdictsOf([...events].reverse()))).toEqual(gist(verdictsOf(events)));
  });

  it("a router's frag-needed about the tunnel's packet is the inner flow's PTB: honored, and the note says what is left inside", () => {
    const events = stream('ipip-ptb');
    const ptb = events.find((e) => e.kind === 'ptb') as EventJson;
    expect(ptb.inner).toMatchObject({ src: CLIENT, dst: VIP, sport: 42000 });
    expect(ptb.encap).toMatchObject({ type: 'ipip', quoted: true, dst: '198.18.44.2' });
    const v = verdictsOf(events).find((x) => x.flow.src === CLIENT && x.flow.sport === 42000)!;
    expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1400, where: { hop: '198.18.43.254' } });
    expect(v.notes).toContain(
      'the PTB quotes the IPIP packet (198.18.43.1 -> 198.18.44.2) that carried this flow: 198.18.43.1 learns MTU 1400 towards 198.18.44.2, which leaves 1380 for the packets inside',
    );
    expect(v.notes.some((n) => n.includes('cached path MTU 1400 for 198.18.44.2'))).toBe(true);
  });

  it('VXLAN at 1500 over 1500: MSS 1460 + 40 + 50 = 1550', () => {
    const v = verdictsOf(stream('vxlan-1500')).find((x) => x.flow.src === '198.18.42.1')!;
    expect(v).toMatchObject({ verdict: 'mss-exceeds-path', cause: 'encap-overhead', mtu: 1500 });
    expect(v.notes[0]).toContain('1460 + 40 (IPv4 + TCP) + 50 (VXLAN) = 1550 > MTU 1500');
    expect(v.fix).toContain('to 1410');
  });

  it("takes the other end's smaller MSS as the bound on the segments; no verdict when it fits", () => {
    const syn = { ts: 1, netns: 'rs', iface: 'eth0', src: CLIENT, dst: VIP, mss: 1460, synAck: false, ifMtu: 1500, family: 4 as const, tunnel: { type: 'ipip' as const, overhead: 20, src: 'a', dst: 'b' } };
    expect(tunnelMss([syn])).toMatchObject({ mss: 1460, wire: 1520, fits: 1440, peerMss: null });
    const clampedReply = { ts: 2, netns: 'rs', iface: 'eth0', src: VIP, dst: CLIENT, mss: 1440, synAck: true, ifMtu: 1500, family: 4 as const };
    expect(tunnelMss([syn, clampedReply])).toBeUndefined();
    const smallerReply = { ...clampedReply, mss: 1450 };
    expect(tunnelMss([syn, smallerReply])).toMatchObject({ mss: 1450, peerMss: 1450, wire: 1510 });
    expect(tunnelMss([{ ...syn, tunnel: undefined }])).toBeUndefined();
  });

  it("a drop of a tunnel's packet judges the flow inside it and the tunnel's own flow (VXLAN over UDP 4789)", () => {
    const drop: EventJson = {
      type: 'event',
      kind: 'drop',
      ts: 1000,
      netns: 'n1',
      iface: 'eth0',
      dir: null,
      src: '198.18.42.1',
      dst: '198.18.42.2',
      sport: 40000,
      dport: 443,
      proto: 'tcp',
      mtu: 1500,
      len: 1500,
      reason: 'NOT_SPECIFIED',
      encap: { type: 'vxlan', src: '198.18.41.1', dst: '198.18.41.2', overhead: 50, id: 42, sport: 51000, dport: 4789 },
      flags: ['df', 'oversize'],
    };
    const c = new Correlator();
    const changes = c.push(drop);
    expect(changes).toHaveLength(2);
    expect(c.stats().events).toBe(1);
    const inner = changes.find((v) => v.flow.proto === 'tcp')!;
    expect(inner).toMatchObject({ verdict: 'local-bottleneck', cause: 'tunnel-overhead', mtu: 1500, where: { netns: 'n1', iface: 'eth0' } });
    expect(inner.notes[0]).toBe('VXLAN packets of 1550 bytes do not fit the underlay (MTU 1500): the VXLAN device(s) on n1 need an MTU of at most 1450');
    expect(inner.fix).toContain('mtu 1450');
    const outer = changes.find((v) => v.flow.proto === 'udp')!;
    expect(outer).toMatchObject({ verdict: 'local-bottleneck', cause: 'tunnel-overhead', flow: { src: '198.18.41.1', dst: '198.18.41.2', sport: 51000, dport: 4789 } });
    expect(outer.evidence[0]!.what).toContain('dropped a 1550-byte frame');
  });
});
