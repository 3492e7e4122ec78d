// The line `pmtu-watch probe --json` prints (docs/json-contract.md): what an
// active search of the path MTU to one address found, where it breaks, and
// what became of each PTB on this host. Field names are a contract: add
// fields, never rename or remove one.

import type { VerdictCode } from './verdict.js';

export type ProbeProto = 'icmp' | 'udp' | 'tcp';

/**
 * What became of a PTB on this host: `delivered` (it reached the probe's
 * socket), `rp_filter` or `firewall` (the kernel dropped it: strict reverse
 * path filtering, netfilter), another drop reason in lower case, or
 * `not-seen` (the observers never saw it arrive).
 */
export type PtbFate = 'delivered' | 'rp_filter' | 'firewall' | 'not-seen' | (string & {});

export interface ProbeHopJson {
  ttl: number;
  /** Who answered at this TTL (Time Exceeded, or the destination itself); null: nobody. */
  addr: string | null;
  /** Round trip of that answer; null when none reached the probe. */
  rttMs: number | null;
  /** The answer was sent but this host dropped it (the observers saw it): rp_filter, firewall, ... */
  dropped?: string;
  /** At the failing size: `answered` (it got this far), `ptb` (this hop said too big), `lost`; absent when not tried. */
  atFailingSize?: 'answered' | 'ptb' | 'lost';
}

export interface ProbePtbJson {
  /** The address the PTB came from (the router, or its management address). */
  from: string;
  /** The MTU it advertised. */
  mtu: number;
  fate: PtbFate;
  /** Where this host saw it arrive or dropped it. */
  iface: string | null;
  /** With fate rp_filter: the sysctls that decide (the larger of all and the interface), as `name=value`. */
  sysctl?: string[];
  /** With fate delivered: whether the kernel cached the MTU for dst (route lookup after it). */
  applied?: boolean;
}

export interface ProbeJson {
  type: 'probe';
  /** When the probe ended (Unix epoch ms). */
  ts: number;
  dst: string;
  proto: ProbeProto;
  /** UDP/TCP destination port; null for ICMP. */
  port: number | null;
  /** Where the probe ran (null: the current namespace). */
  netns: string | null;
  /** The source address the kernel chose. */
  src: string;
  /** The search's ceiling: the MTU of the device the route to dst leaves by. */
  routeMtu: number;
  /** The largest size (IP packet, bytes) that reached dst; null when nothing did. */
  pathMtu: number | null;
  /** The smallest size that never did; null when the route's MTU got through. */
  smallestLost: number | null;
  hops: ProbeHopJson[];
  ptb: ProbePtbJson | null;
  /** The failing size reaches `after` (the last hop that answered at it; null: not even the first) and is lost at `ttl`. */
  blackhole: { after: string | null; ttl: number } | null;
  /** In live's words (src/contract/verdict.ts); null when dst never answered at all. */
  verdict: VerdictCode | null;
  cause: string | null;
  fix: string | null;
  /** Probes sent, and how long it all took. */
  probes: number;
  elapsedMs: number;
  notes: string[];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The plain output: a line of figures, the per-hop table, the PTB's fate, the black hole, the verdict and fix. */
export function probeText(p: ProbeJson): string[] {
  const lines: string[] = [];
  const from = p.netns ? ` from ${p.netns}` : '';
  const port = p.port !== null ? ` port ${p.port}` : '';
  lines.push(
    p.pathMtu === null
      ? `probe ${p.dst}${from} (${p.proto}${port}): no answer at any size`
      : `probe ${p.dst}${from} (${p.proto}${port}): path MTU ${p.pathMtu}${p.smallestLost !== null ? `, ${p.smallestLost} lost` : ''} (route MTU ${p.routeMtu}; ${p.probes} probes in ${(p.elapsedMs / 1000).toFixed(1)} s)`,
  );
  if (p.hops.length) {
    const failing = p.smallestLost !== null && p.hops.some((h) => h.atFailingSize);
    const addrs = p.hops.map((h) => (h.addr === null ? '*' : h.dropped ? `${h.addr} (dropped here: ${h.dropped})` : h.addr));
    const width = Math.max(16, ...addrs.map((a) => a.length + 2));
    lines.push(`  ttl  ${pad('address', width)}${pad('rtt', 10)}${failing ? `at ${p.smallestLost} bytes` : ''}`.trimEnd());
    p.hops.forEach((h, i) => {
      const rtt = h.rttMs === null ? '*' : `${h.rttMs.toFixed(2)} ms`;
      lines.push(`  ${String(h.ttl).padStart(3)}  ${pad(addrs[i]!, width)}${pad(rtt, 10)}${h.atFailingSize ?? ''}`.trimEnd());
    });
  }
  if (p.ptb) {
    const fate =
      p.ptb.fate === 'delivered'
        ? `delivered${p.ptb.applied === true ? ', and the kernel cached it' : p.ptb.applied === false ? ', but the kernel did not cache it' : ''}`
        : p.ptb.fate === 'not-seen'
          ? `arrived${p.ptb.iface ? ` on ${p.ptb.iface}` : ''}, then neither delivered nor seen dropped`
          : `dropped by ${p.ptb.fate}${p.ptb.iface ? ` on ${p.ptb.iface}` : ''}${p.ptb.sysctl?.length ? ` (${p.ptb.sysctl.join(', ')})` : ''}`;
    lines.push(`PTB from ${p.ptb.from}, mtu ${p.ptb.mtu}: ${fate}`);
  } else if (p.smallestLost !== null && p.pathMtu !== null) {
    lines.push('PTB: none reached this host');
  }
  if (p.blackhole) {
    lines.push(
      `black hole: packets of ${p.smallestLost} bytes ${p.blackhole.after ? `reach ${p.blackhole.after}` : 'do not even reach the first hop'} and are lost at ttl ${p.blackhole.ttl}`,
    );
  }
  lines.push(`verdict: ${p.verdict ?? 'none'}${p.cause ? ` (${p.cause})` : ''}`);
  if (p.fix) lines.push(`fix: ${p.fix}`);
  for (const n of p.notes) lines.push(`note: ${n}`);
  return lines;
}
