// End to end: the rp-filter scenario split between two `serve` instances
// standing for two nodes (node-a watches c, r1, r2 and m: the routers; node-b
// watches s, the server), `cluster` subscribed to both with a token each,
// and headless chromium on cluster's page. The incident that names both
// nodes reaches the page live, and its path marks s/to-r2 on node-b and r2
// on node-a as the PTB's sender.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import type { Browser } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';

import { scenario } from '../../src/lab/scenarios.js';
import { waitFor } from '../../src/lab/traffic.js';
import { launch, needChromium, openPage, screenshot } from '../helpers/browser.js';
import { kernelDescribe, needAddon, needBtf, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, observerAttached } from '../helpers/live.js';

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  lines: Record<string, unknown>[];
  exited: Promise<unknown[]>;
}

function run(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const lines: Record<string, unknown>[] = [];
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { child, stderr: () => stderr, lines, exited: once(child, 'exit') };
}

const feedOf = (p: Proc) => waitFor(() => /feed on (ws:\/\/\S+\/feed)/.exec(p.stderr())?.[1], 20_000);

kernelDescribe(
  'cluster of two serve nodes, in the browser',
  () => {
    const labs = useLabs();
    const procs: Proc[] = [];
    let browser: Browser | undefined;
    afterEach(async () => {
      await browser?.close();
      browser = undefined;
      for (const p of procs.splice(0).reverse()) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGINT');
        const [code] = await p.exited;
        expect(code, p.stderr()).toBe(0);
      }
    });

    it("shows one incident naming both nodes: node-a's router sent the PTB, node-b's rp_filter dropped it", async () => {
      const lab = await labs.create('cluster');
      const sc = scenario('rp-filter')!;
      const built = await sc.build(lab);
      const ns = built.ns as Record<'c' | 'r1' | 'r2' | 's' | 'm', string>;
      const a = run(['serve', '--listen', '127.0.0.1:0', '--token', 'token-a', '--duration', '100', ...['c', 'r1', 'r2', 'm'].flatMap((r) => ['--netns', ns[r as 'c']])]);
      procs.push(a);
      const b = run(['serve', '--listen', '127.0.0.1:0', '--token', 'token-b', '--duration', '100', '--netns', ns.s]);
      procs.push(b);
      const [urlA, urlB] = await Promise.all([feedOf(a), feedOf(b)]);
      await waitFor(() => observerAttached(lab, ns.s, 'to-r2'), 15_000);
      await waitFor(() => observerAttached(lab, ns.r2, 'to-s'), 15_000);

      const c = run(['cluster', '--node', `node-a=${urlA}`, '--node', `node-b=${urlB}`, '--node-token', 'node-a=token-a', '--node-token', 'node-b=token-b', '--token', 'token-c', '--listen', '127.0.0.1:0', '--json', '--duration', '100']);
      procs.push(c);
      const clusterUrl = (await feedOf(c)).replace('ws://', 'http://').replace('/feed', '/');
      await waitFor(() => ['node-a', 'node-b'].every((n) => c.lines.some((l) => l.type === 'node' && l.node === n && l.state === 'up')) || undefined, 10_000);

      browser = await launch();
      const { page, problems } = await openPage(browser, `${clusterUrl}?token=token-c`);
      await page.waitForSelector('li.node[data-node="node-a"][data-state="up"]', { timeout: 10_000 });
      await page.waitForSelector('li.node[data-node="node-b"][data-state="up"]', { timeout: 10_000 });
      await page.waitForSelector('#mtumap article.ns[data-node="node-b"][data-netns="' + ns.s + '"]', { timeout: 10_000 });

      await sc.drive(lab, built);

      // Live, over cluster's feed: node-b's verdict and the incident across both nodes.
      const row = await page.waitForSelector('tr.trouble[data-node="node-b"][data-verdict="ptb-dropped"]', { timeout: 15_000 });
      expect(await row.$eval('.where', (e) => e.textContent)).toBe(`${ns.s}/to-r2`);
      expect(await row.$eval('.hop', (e) => e.textContent)).toBe('198.19.0.1');
      const tcpIncident = 'li.incident[data-nodes="node-a node-b"]';
      await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].some((e) => e.textContent?.includes('tcp ')), tcpIncident, { timeout: 15_000 });
      const incidents = await page.$$(tcpIncident);
      let chosen;
      for (const li of incidents) if ((await li.textContent())?.includes('tcp ')) chosen = li;
      expect(await chosen!.textContent()).toContain(`node node-b dropped it at ${ns.s}/to-r2 (rp_filter)`);

      // Keyboard: focus the incident, Enter draws its path across both nodes.
      await chosen!.focus();
      await page.keyboard.press('Enter');
      await page.waitForSelector('#path svg.path', { timeout: 5000 });
      const steps = await page.$$eval('#path svg .step', (gs) => gs.map((g) => `${g.getAttribute('data-node')}:${g.getAttribute('data-netns')}`));
      expect(steps).toEqual([`node-b:${ns.s}`, `node-a:${ns.r2}`, `node-a:${ns.r1}`, `node-a:${ns.c}`]);
      const died = await page.$$eval('#path svg .iface[data-mark="died"]', (gs) => gs.map((g) => `${g.getAttribute('data-node')}:${g.getAttribute('data-netns')}/${g.getAttribute('data-iface')}`));
      expect(died).toEqual([`node-b:${ns.s}/to-r2`]);
      expect(await page.$$eval('#path svg .step[data-mark="ptb-sender"]', (gs) => gs.map((g) => g.getAttribute('data-netns')))).toEqual([ns.r2]);
      await screenshot(page, 'cluster-kernel-rp-filter');
      expect(problems).toEqual([]);

      // The same incident on cluster's --json output, and in its /metrics.
      const inc = c.lines.find((l) => l.type === 'incident' && (l.flow as { proto: string }).proto === 'tcp') as { nodes: string[]; cause: string; hop: string; mtu: number } | undefined;
      expect(inc).toMatchObject({ nodes: ['node-a', 'node-b'], cause: 'rp_filter', hop: '198.19.0.1', mtu: 1500 });
      const metrics = await (await fetch(`${clusterUrl}metrics`, { headers: { authorization: 'Bearer token-c' } })).text();
      expect(metrics).toMatch(/^pmtu_cluster_node_up\{node="node-b"\} 1$/m);
      expect(metrics).toMatch(/^pmtu_cluster_incidents_total\{cause="rp_filter"\} [1-9]/m);

      // A node that stops is shown down on the page.
      b.child.kill('SIGINT');
      await page.waitForSelector('li.node[data-node="node-b"][data-state="down"]', { timeout: 10_000 });
      await screenshot(page, 'cluster-kernel-node-down');
    });
  },
  { requires: [needBtf, needLabTools, needAddon, needChromium] },
);
