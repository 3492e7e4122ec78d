// Root-only: `analyze` on a real tcpdump capture of a lab scenario. The
// router-bottleneck lab (c — r1 — r2 — s, 9000/1500/9000) is built, tcpdump
// writes c's interface (--immediate-mode: see test/capture/foreign.kernel.test.ts)
// while the scenario's own traffic runs, and analyze must say what live says:
// ptb-honored for the tcp flow, at the router's hop, MTU 1500. Addresses:
// the lab's (198.18.0.0/15).

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { main } from '../../src/cli/main.js';
import type { Spawned } from '../../src/lab/netlab.js';
import { scenario, type Expected } from '../../src/lab/scenarios.js';
import type { RoutedPath } from '../../src/lab/topologies.js';
import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-analyze-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

kernelDescribe(
  'analyze on a lab capture',
  () => {
    const labs = useLabs();

    it('router-bottleneck captured with tcpdump on c: ptb-honored for the tcp flow, at r1\'s hop, MTU 1500', async () => {
      const sc = scenario('router-bottleneck')!;
      const lab = await labs.create('analyze');
      const b = await sc.build(lab);
      const path = b.topology as RoutedPath;
      const file = join(dir, 'c.pcap');
      // Headers are what analyze reads: -s 256 as the kernel keeps, the wire lengths stay in the records.
      const dump: Spawned = lab.spawn(b.ns.c!, ['timeout', '60', 'tcpdump', '--immediate-mode', '-U', '-s', '256', '-i', path.client.ifname, '-w', file, 'ip']);
      await waitFor(() => /listening on/.test(dump.output().stderr), 10_000);

      const sum = await sc.traffic(lab, b);
      await new Promise((r) => setTimeout(r, 300)); // the last packets into the capture's buffer
      await dump.stop(5000);
      expect(statSync(file).size).toBeGreaterThan(10_000);

      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['node', 'pmtu-watch', 'analyze', '--json', file], { out: (l) => out.push(l), err: (l) => err.push(l) }, { live: { stopRequested: new Promise(() => {}) } });
      expect(code, err.join('\n')).toBe(0);
      const lines = out.map((l) => JSON.parse(l));
      const ptbs = lines.filter((l) => l.type === 'event' && l.kind === 'ptb' && l.inner?.proto === 'tcp');
      expect(ptbs.length, JSON.stringify(sum)).toBeGreaterThan(0);
      const expected = sc.expected as Expected & { where: { hop: string } };
      const verdicts = new Map<string, { verdict: string; where: { hop: string | null }; mtu: number | null; flow: { proto: string | number } }>();
      for (const l of lines) if (l.type === 'verdict') verdicts.set(JSON.stringify(l.flow), l);
      const tcp = [...verdicts.values()].filter((v) => v.flow.proto === 'tcp' && v.verdict !== 'ok');
      expect(tcp.map((v) => [v.verdict, v.where.hop, v.mtu]), err.join('\n')).toEqual([[expected.verdict, expected.where.hop, expected.mtu]]);
      // The sender adapted: c's data got through once it had the PTB (GSO hides its segments' size on c's own interface).
      const routes = lines.filter((l) => l.type === 'event' && l.kind === 'route');
      expect(routes.map((x) => [x.netns, x.expected, x.learned])).toContainEqual(['c', 1500, true]);
      console.log(`[analyze] ${err.at(-1)}; ${ptbs.length} PTBs about tcp, ${routes.length} route learned, retransmits ${lines.filter((l) => l.kind === 'retransmit').length}`);
    });
  },
  { requires: [needLabTools, needCommands('tcpdump')] },
);
