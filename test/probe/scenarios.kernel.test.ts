// `pmtu-watch probe` on the lab's scenarios, built for real: the path MTU,
// the PTB's source and fate, and the black hole's hop, each run under 20 s.

import { expect, it } from 'vitest';

import type { RoutedPath } from '../../src/lab/topologies.js';
import { scenario } from '../../src/lab/scenarios.js';
import { kernelDescribe, needAddon, needBtf, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { runProbe } from './run.js';

interface Case {
  name: string;
  /** More flags: another protocol. */
  args?: string[];
  /** Who probes whom: the role that runs probe and the destination (role s or c, v4 or v6). */
  from: 'c' | 's';
  to: (p: RoutedPath) => string;
  pathMtu: number;
  ptb: { from: string; mtu: number; fate: string } | null;
  blackhole: { after: string | null; ttl: number } | null;
  verdict: string;
  cause: string | null;
}

const CASES: Case[] = [
  {
    name: 'router-bottleneck',
    from: 'c',
    to: (p) => p.server.v4,
    pathMtu: 1500,
    ptb: { from: '198.18.1.1', mtu: 1500, fate: 'delivered' },
    blackhole: null,
    verdict: 'ptb-honored',
    cause: null,
  },
  {
    // The TLS server's direction (seed 001): s probes c; r2 answers from its management address, which s's rp_filter drops.
    name: 'rp-filter',
    from: 's',
    to: (p) => p.client.v4,
    pathMtu: 1500,
    ptb: { from: '198.19.0.1', mtu: 1500, fate: 'rp_filter' },
    blackhole: { after: '198.19.0.1', ttl: 2 },
    verdict: 'ptb-dropped',
    cause: 'rp_filter',
  },
  {
    name: 'firewall',
    from: 'c',
    to: (p) => p.server.v4,
    pathMtu: 1500,
    ptb: { from: '198.18.1.1', mtu: 1500, fate: 'firewall' },
    blackhole: { after: '198.18.1.1', ttl: 2 },
    verdict: 'ptb-dropped',
    cause: 'firewall',
  },
  {
    name: 'silent-blackhole',
    from: 'c',
    to: (p) => p.server.v4,
    pathMtu: 1500,
    ptb: null,
    blackhole: { after: '198.18.1.1', ttl: 2 },
    verdict: 'silent-blackhole',
    cause: 'no-ptb',
  },
  {
    name: 'ipv6',
    from: 'c',
    to: (p) => p.server.v6!,
    pathMtu: 1500,
    ptb: { from: '2001:db8:1::1', mtu: 1500, fate: 'delivered' },
    blackhole: null,
    verdict: 'ptb-honored',
    cause: null,
  },
  {
    // UDP: dst's port unreachable is the answer that it got there.
    name: 'firewall',
    args: ['--proto', 'udp'],
    from: 'c',
    to: (p) => p.server.v4,
    pathMtu: 1500,
    ptb: { from: '198.18.1.1', mtu: 1500, fate: 'firewall' },
    blackhole: { after: '198.18.1.1', ttl: 2 },
    verdict: 'ptb-dropped',
    cause: 'firewall',
  },
  {
    // TCP SYNs padded to size, to a closed port: its RST is the answer.
    name: 'router-bottleneck',
    args: ['--proto', 'tcp', '--port', '9'],
    from: 'c',
    to: (p) => p.server.v4,
    pathMtu: 1500,
    ptb: { from: '198.18.1.1', mtu: 1500, fate: 'delivered' },
    blackhole: null,
    verdict: 'ptb-honored',
    cause: null,
  },
];

kernelDescribe(
  'probe on the lab scenarios',
  () => {
    const labs = useLabs();
    for (const c of CASES) {
      it(`${c.name}${c.args ? ` (${c.args.join(' ')})` : ''}: path MTU ${c.pathMtu}, PTB ${c.ptb ? `from ${c.ptb.from} ${c.ptb.fate}` : 'none'}, ${c.verdict}`, async () => {
        const lab = await labs.create(`prb${CASES.indexOf(c)}`);
        const built = await scenario(c.name)!.build(lab);
        const p = built.topology as RoutedPath;
        const dst = c.to(p);
        const r = await runProbe(['--netns', built.ns[c.from]!, '--json', ...(c.args ?? []), dst]);
        const j = r.json;
        console.log(`probe ${c.name}${c.args ? ` ${c.args.join(' ')}` : ''}: ${(r.ms / 1000).toFixed(1)} s, ${j?.probes} probes; pathMtu ${j?.pathMtu}, ptb ${JSON.stringify(j?.ptb)}, blackhole ${JSON.stringify(j?.blackhole)}, ${j?.verdict}/${j?.cause}; hops ${JSON.stringify(j?.hops)}`);
        expect(j, r.stderr).toBeDefined();
        expect(r.stderr).toMatch(/the kernel caches a path MTU it learns/);
        expect(j!.dst).toBe(dst);
        expect(j!.pathMtu).toBe(c.pathMtu);
        expect(j!.ptb === null ? null : { from: j!.ptb.from, mtu: j!.ptb.mtu, fate: j!.ptb.fate }).toEqual(c.ptb);
        expect(j!.blackhole).toEqual(c.blackhole);
        expect({ verdict: j!.verdict, cause: j!.cause }).toEqual({ verdict: c.verdict, cause: c.cause });
        expect(j!.fix === null).toBe(c.verdict === 'ptb-honored');
        expect(j!.hops[j!.hops.length - 1]!.addr).toBe(dst);
        expect(r.code).toBe(c.verdict === 'ptb-honored' ? 0 : 1);
        expect(r.ms).toBeLessThan(20_000);
      });
    }
  },
  { requires: [needBtf, needLabTools, needAddon] },
);
