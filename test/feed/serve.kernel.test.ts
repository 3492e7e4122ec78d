// `pmtu-watch serve` on a real scenario: a websocket client gets the verdict
// as it happens, and /metrics counts the drop.

import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { afterEach, expect, it } from 'vitest';

import type { VerdictJson } from '../../src/contract/verdict.js';
import { connectFeed } from '../../src/feed/client.js';
import { NetLab } from '../../src/lab/netlab.js';
import { scenario } from '../../src/lab/scenarios.js';
import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf, needLabTools } from '../helpers/kernel.js';
import { BIN, observerAttached } from '../helpers/live.js';

kernelDescribe(
  'pmtu-watch serve',
  () => {
    let lab: NetLab | undefined;
    afterEach(async () => {
      await lab?.teardown();
      lab = undefined;
    });

    it('streams the verdict of a bridge-port drop to a websocket client and counts it in /metrics', async () => {
      lab = await NetLab.create('serve');
      const sc = scenario('bridge-port')!;
      const built = await sc.build(lab);
      const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--duration', '40', ...Object.values(built.ns).flatMap((n) => ['--netns', n])], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, 'exit');
      try {
        const url = await waitFor(() => /feed on (ws:\/\/\S+\/feed)/.exec(stderr)?.[1], 15_000);
        await waitFor(() => observerAttached(lab!, built.ns.hv!, 'p-g2'), 10_000);
        const feed = connectFeed({ url, filter: { verdictsOnly: true } });
        const verdicts: VerdictJson[] = [];
        feed.on('verdict', (v) => verdicts.push(v));
        await new Promise<void>((resolve) => feed.on('snapshot', () => resolve()));
        await sc.drive(lab, built);
        const v = await waitFor(() => verdicts.find((x) => x.verdict === 'local-bottleneck'), 5000);
        expect(v).toMatchObject({ cause: 'layer2', mtu: 1500, where: { netns: built.ns.hv, iface: 'p-g2' } });
        const metrics = await (await fetch(url.replace('ws://', 'http://').replace('/feed', '/metrics'))).text();
        expect(metrics).toMatch(/^pmtu_drops_total\{reason="NOT_SPECIFIED"\} [1-9]/m);
        expect(metrics).toMatch(/^pmtu_verdicts_total\{verdict="local-bottleneck",cause="layer2"\} [1-9]/m);
        expect(metrics).toContain('pmtu_feed_clients 1');
        feed.close();
      } finally {
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    });
  },
  { requires: [needBtf, needLabTools, needAddon] },
);
