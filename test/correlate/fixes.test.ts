// The fixes verdicts suggest, in the terms their user has: an nft rule on a
// host, a Calico policy or CNI setting in a cluster (seed 004).

import { describe, expect, it } from 'vitest';

import { fixFor } from '../../src/correlate/fixes.js';
import type { VerdictJson } from '../../src/contract/verdict.js';

function verdict(over: Partial<VerdictJson>): VerdictJson {
  return {
    type: 'verdict',
    ts: 0,
    verdict: 'ptb-dropped',
    cause: 'firewall',
    flow: { src: '198.18.1.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp' },
    where: { netns: 'c', iface: 'eth0', hop: '198.18.1.1' },
    mtu: 1450,
    bounds: null,
    fix: null,
    evidence: [],
    notes: [],
    ...over,
  };
}

describe('fixes', () => {
  it('a firewall eating PTBs on a plain host: the nft rule, and nothing about Kubernetes', () => {
    const fix = fixFor(verdict({}))!;
    expect(fix).toContain('ip netns exec c nft insert rule inet filter input icmp type destination-unreachable icmp code frag-needed accept');
    expect(fix).not.toMatch(/Kubernetes|Calico/);
  });

  it("in a pod, or on Calico's host side of one: a NetworkPolicy cannot express ICMP, a GlobalNetworkPolicy allowing type 3 code 4 and ICMPv6 type 2 can", () => {
    for (const where of [
      { netns: 'pod:default/web-0', iface: 'eth0', hop: null },
      { netns: 'host', iface: 'cali1a2b3c4d5e6', hop: null },
    ]) {
      const fix = fixFor(verdict({ where }))!;
      expect(fix).toContain('In Kubernetes a NetworkPolicy cannot express ICMP');
      const json = /<<< '(.*)'$/.exec(fix)![1]!;
      expect(JSON.parse(json)).toEqual({
        apiVersion: 'projectcalico.org/v3',
        kind: 'GlobalNetworkPolicy',
        metadata: { name: 'allow-pmtud' },
        spec: {
          order: 0,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [
            { action: 'Allow', protocol: 'ICMP', icmp: { type: 3, code: 4 } },
            { action: 'Allow', protocol: 'ICMPv6', icmp: { type: 2 } },
          ],
        },
      });
    }
  });

  it("an MSS beyond the path in a pod: the clamp, and the CNI's MTU as the lasting fix", () => {
    const fix = fixFor(verdict({ verdict: 'mss-exceeds-path', cause: null, where: { netns: 'pod:ci/build-7', iface: 'eth0', hop: null } }))!;
    expect(fix).toMatch(/^Clamp MSS to 1410 where the traffic enters eth0/);
    expect(fix).toContain(`kubectl patch installation default --type=merge -p '{"spec":{"calicoNetwork":{"mtu":1450}}}'`);
    expect(fixFor(verdict({ verdict: 'mss-exceeds-path', cause: null }))).not.toContain('Calico');
  });

  it('a PTB not honored upstream: clamp the SYNs coming in on the small link, or lower the MTU behind it', () => {
    const fix = fixFor(verdict({ verdict: 'ptb-not-honored', cause: null, where: { netns: 'node', iface: 'cni0', hop: null } }))!;
    expect(fix).toContain('ip netns exec node nft add rule inet mangle forward iifname "cni0" tcp flags syn tcp option maxseg size > 1410 tcp option maxseg size set 1410');
    expect(fix).toContain('dockerd --mtu 1450');
  });
});

describe('fixes for what a capture shows (analyze)', () => {
  it('name no namespace to enter, and send a PTB the sender never heeded to its host', () => {
    const v = verdict({ verdict: 'ptb-not-honored', cause: null, where: { netns: 'server.pcap', iface: 'server.pcap', hop: '198.19.0.1' }, mtu: 1500 });
    const fix = fixFor(v, 0, true)!;
    expect(fix).not.toContain('ip netns exec');
    expect(fix).toMatch(/^On the sender's host, find what eats the PTB from 198\.19\.0\.1: a firewall's input chain .* strict rp_filter/);
    expect(fix).toContain('clamp the MSS of SYNs on the path to 1460');
    expect(fixFor({ ...v, verdict: 'ptb-dropped', cause: 'firewall' }, 0, true)).not.toContain('ip netns exec');
  });
});
