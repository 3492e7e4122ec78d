// Synthetic event lines (the `live --json` contract) for the correlator and
// capture benchmarks: flow i is a TCP connection from its own address and
// port, seen where a watched host sends it: its SYN, its largest DF packet,
// and (for PTB streams) a router's frag-needed about it.

import type { EventJson } from '../contract/event.js';

const DST = '198.19.255.1';
const HOP = '198.19.0.1';

/** Distinct for i < 65536 * 60000: the address picks from 65536, the port from 60000. */
function endpoint(i: number): { src: string; sport: number } {
  return { src: `198.18.${(i >> 8) & 255}.${i & 255}`, sport: 1024 + Math.floor(i / 65536) };
}

export type BenchKind = 'syn' | 'size' | 'ptb';

export function flowEvent(i: number, kind: BenchKind, ts: number): EventJson {
  const { src, sport } = endpoint(i);
  // Literals, not `{ ...base, ... }`: a spread copy is a slow path in V8 that
  // would cost more than what is measured.
  switch (kind) {
    case 'syn':
      return { type: 'event', ts, netns: 'a', iface: 'va', kind, dir: 'egress', src, dst: DST, sport, dport: 443, proto: 'tcp', mtu: 1500, len: 60, mss: 1460, flags: ['df'] };
    case 'size':
      return { type: 'event', ts, netns: 'a', iface: 'va', kind, dir: 'egress', src, dst: DST, sport, dport: 443, proto: 'tcp', mtu: 1500, len: 1500, flags: ['df'] };
    case 'ptb':
      return {
        type: 'event',
        ts,
        netns: 'a',
        iface: 'va',
        kind,
        dir: 'ingress',
        src: HOP,
        dst: src,
        sport: 0,
        dport: 0,
        proto: 'icmp',
        mtu: 1400,
        len: 576,
        inner: { src, dst: DST, sport, dport: 443, proto: 'tcp', len: 1500 },
        flags: ['icmp-error'],
      };
  }
}
