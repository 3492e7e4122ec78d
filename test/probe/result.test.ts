// From a search's findings to the probe line: the PTB and its fate, the
// verdict and fix in live's words, and the text a person reads.

import { describe, expect, it } from 'vitest';

import { probeText } from '../../src/contract/probe.js';
import { probeResult, type ProbeContext } from '../../src/probe/result.js';
import type { SearchResult } from '../../src/probe/search.js';

const CTX: ProbeContext = {
  ts: 1_700_000_000_000,
  dst: '198.18.3.2',
  proto: 'icmp',
  port: null,
  netns: 'pmtu-lab-c',
  src: '198.18.1.2',
  routeMtu: 9000,
  elapsedMs: 1234,
  observed: true,
  cachedMtu: 0,
  rpFilterSysctls: (iface) => ['net.ipv4.conf.all.rp_filter=1', `net.ipv4.conf.${iface}.rp_filter=1`],
};

const HOPS = [
  { ttl: 1, addr: '198.18.1.1', rttMs: 0.2, atFailingSize: 'answered' as const },
  { ttl: 2, addr: '198.18.2.2', rttMs: 0.3, atFailingSize: 'lost' as const },
  { ttl: 3, addr: '198.18.3.2', rttMs: 0.3 },
];

function found(over: Partial<SearchResult>): SearchResult {
  return { reachable: true, pathMtu: 1500, smallestLost: 1501, ptbs: [], hops: HOPS, blackhole: null, exhausted: false, probes: 20, refused: [], ...over };
}

describe('probe result', () => {
  it('a delivered PTB the kernel cached: ptb-honored at the hop, no fix, no black hole', () => {
    const r = probeResult(found({ ptbs: [{ from: '198.18.1.1', mtu: 1500, size: 9000, ttl: 64, delivered: true }], blackhole: { after: '198.18.1.1', ttl: 2 } }), { ...CTX, cachedMtu: 1500 });
    expect(r).toMatchObject({ type: 'probe', pathMtu: 1500, ptb: { from: '198.18.1.1', mtu: 1500, fate: 'delivered', applied: true }, blackhole: null, verdict: 'ptb-honored', cause: null, fix: null });
  });

  it('delivered but not cached: ptb-dropped, not-applied', () => {
    const r = probeResult(found({ ptbs: [{ from: '198.18.1.1', mtu: 1500, size: 9000, ttl: 64, delivered: true }] }), CTX);
    expect(r.ptb?.applied).toBe(false);
    expect({ verdict: r.verdict, cause: r.cause }).toEqual({ verdict: 'ptb-dropped', cause: 'not-applied' });
  });

  it('rp_filter: the interface, the sysctls, and the fix live gives (loose mode only with its warning)', () => {
    const seen = { kind: 'too-big' as const, from: '198.19.0.1', mtu: 1500, fate: 'rp_filter', iface: 'to-r2' };
    const r = probeResult(found({ ptbs: [{ from: '198.19.0.1', mtu: 1500, size: 9000, ttl: 64, delivered: false, seen }], blackhole: { after: '198.19.0.1', ttl: 2 } }), CTX);
    expect(r.ptb).toEqual({ from: '198.19.0.1', mtu: 1500, fate: 'rp_filter', iface: 'to-r2', sysctl: ['net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.to-r2.rp_filter=1'] });
    expect({ verdict: r.verdict, cause: r.cause }).toEqual({ verdict: 'ptb-dropped', cause: 'rp_filter' });
    expect(r.fix).toContain('net.ipv4.conf.to-r2.rp_filter=2');
    expect(r.fix).toContain('WARNING');
    expect(r.fix).toContain('198.19.0.1');
    expect(r.blackhole).toEqual({ after: '198.19.0.1', ttl: 2 });
  });

  it('firewall: the nft rule that lets PTBs in, in the namespace', () => {
    const seen = { kind: 'too-big' as const, from: '198.18.1.1', mtu: 1500, fate: 'firewall', iface: 'to-r1' };
    const r = probeResult(found({ ptbs: [{ from: '198.18.1.1', mtu: 1500, size: 9000, ttl: 64, delivered: false, seen }] }), CTX);
    expect({ verdict: r.verdict, cause: r.cause }).toEqual({ verdict: 'ptb-dropped', cause: 'firewall' });
    expect(r.fix).toContain('icmp code frag-needed accept');
    expect(r.fix).toContain('pmtu-lab-c');
  });

  it('no PTB at all: silent-blackhole after the last hop that answered, with the bounds in the fix', () => {
    const r = probeResult(found({ blackhole: { after: '198.18.1.1', ttl: 2 } }), CTX);
    expect(r.ptb).toBeNull();
    expect({ verdict: r.verdict, cause: r.cause }).toEqual({ verdict: 'silent-blackhole', cause: 'no-ptb' });
    expect(r.fix).toContain('reach 198.18.1.1');
    expect(r.fix).toContain('1501');
    expect(r.fix).toContain('1460'); // MSS for 1500
  });

  it('the route MTU through: ok; nothing answered: no verdict', () => {
    expect(probeResult(found({ pathMtu: 9000, smallestLost: null }), CTX)).toMatchObject({ verdict: 'ok', fix: null });
    const none = probeResult(found({ reachable: false, pathMtu: null, smallestLost: 576, hops: [] }), CTX);
    expect(none).toMatchObject({ verdict: null, cause: 'no-reply', fix: null, pathMtu: null });
  });

  it('IPv6: the MSS in the fix is the MTU less 60', () => {
    const r = probeResult(found({ blackhole: { after: '2001:db8:1::1', ttl: 2 } }), { ...CTX, dst: '2001:db8:3::2', src: '2001:db8:1::2' });
    expect(r.fix).toContain('1440');
  });

  it('plain text: the figures, the hop table, the fate, the black hole, the verdict and fix', () => {
    const seen = { kind: 'too-big' as const, from: '198.19.0.1', mtu: 1500, fate: 'rp_filter', iface: 'to-r2' };
    const hops = [{ ttl: 1, addr: '198.19.0.1', rttMs: null, dropped: 'rp_filter', atFailingSize: 'answered' as const }, ...HOPS.slice(1)];
    const text = probeText(probeResult(found({ hops, ptbs: [{ from: '198.19.0.1', mtu: 1500, size: 9000, ttl: 64, delivered: false, seen }], blackhole: { after: '198.19.0.1', ttl: 2 } }), CTX));
    expect(text[0]).toBe('probe 198.18.3.2 from pmtu-lab-c (icmp): path MTU 1500, 1501 lost (route MTU 9000; 20 probes in 1.2 s)');
    expect(text[1]).toMatch(/^ {2}ttl {2}address +rtt +at 1501 bytes$/);
    expect(text[2]).toMatch(/^ {4}1 {2}198\.19\.0\.1 \(dropped here: rp_filter\) +\* +answered$/);
    expect(text).toContain('PTB from 198.19.0.1, mtu 1500: dropped by rp_filter on to-r2 (net.ipv4.conf.all.rp_filter=1, net.ipv4.conf.to-r2.rp_filter=1)');
    expect(text).toContain('black hole: packets of 1501 bytes reach 198.19.0.1 and are lost at ttl 2');
    expect(text).toContain('verdict: ptb-dropped (rp_filter)');
    expect(text.some((l) => l.startsWith('fix: '))).toBe(true);
  });
});
