import { describe, expect, it } from 'vitest';

import { verdictText } from '../../src/contract/text.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { screen } from '../../src/sinks/screen.js';

const ts = Date.UTC(2026, 10, 22, 12, 0, 1, 500);

function verdict(over: Partial<VerdictJson>): VerdictJson {
  return {
    type: 'verdict',
    ts,
    verdict: 'ok',
    cause: null,
    flow: { src: '198.18.1.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp' },
    where: { netns: null, iface: null, hop: null },
    mtu: null,
    bounds: null,
    fix: null,
    evidence: [],
    notes: [],
    ...over,
  };
}

const dropped = verdict({
  verdict: 'ptb-dropped',
  cause: 'rp_filter',
  where: { netns: 'c', iface: 'to-r1', hop: '198.19.0.1' },
  mtu: 1500,
  fix: 'sysctl -w net.ipv4.conf.to-r1.rp_filter=2 — WARNING',
});

describe('verdictText', () => {
  it('says what broke, for which flow, where, the MTU, then the fix', () => {
    expect(verdictText(dropped).split('\n')).toEqual([
      '12:00:01.500 PTB-DROPPED rp_filter tcp 198.18.1.2:40000 -> 198.18.3.2:443 at c/to-r1 hop 198.19.0.1 mtu 1500',
      '    fix: sysctl -w net.ipv4.conf.to-r1.rp_filter=2 — WARNING',
    ]);
  });

  it('gives path-MTU bounds when no MTU is known, and notes', () => {
    const v = verdict({ verdict: 'silent-blackhole', cause: 'no-ptb', bounds: { largestOk: 1400, smallestLost: 1500 }, notes: ['x'], flow: { src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, proto: 'tcp' } });
    expect(verdictText(v).split('\n')).toEqual(['12:00:01.500 SILENT-BLACKHOLE no-ptb tcp [2001:db8::1]:1 -> [2001:db8::2]:2 path mtu 1400..1499', '    note: x']);
  });
});

describe('screen', () => {
  const status = { nowMs: ts + 3000, startedMs: ts - 60_000, events: 1234, eventsPerSecond: 56, lost: 2, interfaces: 4, flows: 2 };

  it('puts the status first and flows in the order given (troubled first), with their fixes', () => {
    const text = screen([dropped, verdict({})], status, 24, 200).split('\n');
    expect(text[0]).toBe('pmtu-watch live  4 interfaces  2 flows, 1 in trouble  1234 events (56/s)  lost 2  up 63s  (Ctrl-C stops)');
    expect(text[2]).toMatch(/^VERDICT\s+CAUSE\s+FLOW\s+WHERE\s+HOP\s+MTU\s+AGE$/);
    expect(text[3]).toMatch(/^ptb-dropped\s+rp_filter\s+tcp 198\.18\.1\.2:40000 -> 198\.18\.3\.2:443\s+c\/to-r1\s+198\.19\.0\.1\s+mtu 1500\s+3s$/);
    expect(text[4]).toBe('  fix: sysctl -w net.ipv4.conf.to-r1.rp_filter=2 — WARNING');
    expect(text[5]).toMatch(/^ok\s+tcp/);
  });

  it('fits the terminal: no more rows or columns than it has', () => {
    const many = Array.from({ length: 50 }, () => dropped);
    const text = screen(many, status, 10, 60).split('\n');
    expect(text.length).toBeLessThanOrEqual(9);
    expect(Math.max(...text.map((l) => l.length))).toBeLessThanOrEqual(60);
  });
});
