// The web page in Debian's headless chromium against a feed on loopback fed
// by the test: live updates reach the DOM, the selected flow's SVG path
// marks the right interface, keyboard alone gets there, names from the
// network stay text, and the console stays free of errors (CSP violations
// included). Screenshots go to test-artifacts/ for a person to look at.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { IncidentJson, NodeStatusJson, TopologyJson } from '../../src/contract/cluster.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { Feed } from '../../src/feed/server.js';
import { launch, needChromium, openPage, screenshot } from '../helpers/browser.js';
import { kernelDescribe } from '../helpers/kernel.js';
import { nodeA, nodeB } from './fixtures.js';

const flow = { src: '198.18.3.2', dst: '198.18.1.2', sport: 4433, dport: 40000, proto: 'tcp' };
const dropped: VerdictJson = {
  type: 'verdict',
  ts: Date.now(),
  verdict: 'ptb-dropped',
  cause: 'rp_filter',
  flow,
  where: { netns: 's', iface: 'to-r2', hop: '198.19.0.1' },
  mtu: 1500,
  bounds: null,
  fix: 'Make the path MTU consistent, or let s route 198.19.0.1 back through to-r2.',
  evidence: [],
  notes: ['MSS: 198.18.1.2 sent 8960'],
};
const withoutNodes = (t: TopologyJson): TopologyJson => {
  const { node: _node, ...rest } = t;
  return rest;
};

kernelDescribe(
  'the web page in chromium',
  () => {
    let browser: Browser;
    const feeds: Feed[] = [];
    beforeAll(async () => {
      browser = await launch();
    });
    afterAll(async () => {
      await browser?.close();
      await Promise.all(feeds.map((f) => f.close()));
    });

    async function feed(extra: Partial<Parameters<typeof Feed.start>[0]> = {}) {
      const f = await Feed.start({ host: '127.0.0.1', port: 0, token: 'page-token', snapshot: () => [], ...extra });
      feeds.push(f);
      return { f, base: `http://127.0.0.1:${f.address().port}` };
    }

    it("serve's page: a live ptb-dropped verdict appears; Tab to it, Enter, and the path marks s/to-r2 and the hop r2", async () => {
      // One host's reading: serve has no node names.
      const { f, base } = await feed({ topology: () => [withoutNodes(nodeA), withoutNodes(nodeB)] });
      const { page, problems } = await openPage(browser, `${base}/?token=page-token`);
      try {
        expect(page.url()).toBe(`${base}/`); // the token left the address bar
        await page.waitForSelector('#conn.ok', { timeout: 5000 });
        await page.waitForSelector('#mtumap article.ns', { timeout: 5000 });
        expect(await page.isVisible('#no-troubles')).toBe(true);

        f.publishVerdict(dropped); // live, after the page loaded
        const row = await page.waitForSelector('tr.trouble[data-verdict="ptb-dropped"]', { timeout: 5000 });
        expect(await row.$eval('.cause', (e) => e.textContent)).toBe('rp_filter');
        expect(await row.$eval('.where', (e) => e.textContent)).toBe('s/to-r2');
        expect(await row.$eval('.hop', (e) => e.textContent)).toBe('198.19.0.1');
        expect(await row.$eval('.mtu', (e) => e.textContent)).toBe('1500');

        // Keyboard only: Tab until the trouble has focus, Enter selects it.
        let focused = '';
        for (let i = 0; i < 20 && focused !== 'trouble'; i++) {
          await page.keyboard.press('Tab');
          focused = await page.evaluate(() => document.activeElement?.className ?? '');
        }
        expect(focused).toBe('trouble');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#path svg.path', { timeout: 3000 });
        const steps = await page.$$eval('#path svg .step', (gs) => gs.map((g) => g.getAttribute('data-netns')));
        expect(steps).toEqual(['s', 'r2', 'r1', 'c']);
        const died = await page.$$eval('#path svg [data-mark="died"]', (gs) => gs.map((g) => `${g.getAttribute('data-netns')}/${g.getAttribute('data-iface')}`));
        expect(died).toEqual(['s/to-r2']);
        const sender = await page.$$eval('#path svg .step[data-mark="ptb-sender"]', (gs) => gs.map((g) => g.getAttribute('data-netns')));
        expect(sender).toEqual(['r2']);
        expect(await page.textContent('#path svg')).toContain('PTB from 198.19.0.1, MTU 1500');
        expect(await page.textContent('#detail-text')).toContain('fix: Make the path MTU consistent');
        // The narrow link r2–r1 is drawn as such.
        expect(await page.$$eval('#path svg text.wire-mtu.narrow', (ts) => ts.map((t) => t.textContent))).toEqual(['1500']);
        // The MTU map flags what audit found on s.
        expect(await page.getAttribute('#mtumap article.ns[data-netns="s"] li.dev[data-iface="to-r2"]', 'data-mismatch')).toBe('rp-filter-multihomed');
        await screenshot(page, 'serve-page-ptb-dropped');
        expect(problems).toEqual([]);
      } finally {
        await page.context().close();
      }
    });

    it("renders names from the network as text, never as markup, and the CSP holds (no errors)", async () => {
      const evil = '<img src=x onerror="window.pwned=1">';
      const { f, base } = await feed({ snapshot: () => [{ ...dropped, cause: evil, where: { netns: `ns${evil}`, iface: '<b>x</b>', hop: '198.19.0.1' }, fix: `<script>window.pwned=2</script>`, notes: [evil] }] });
      const { page, problems } = await openPage(browser, `${base}/?token=page-token`);
      try {
        const row = await page.waitForSelector('tr.trouble', { timeout: 5000 });
        expect(await row.$eval('.cause', (e) => e.textContent)).toBe(evil);
        await row.click();
        await page.waitForSelector('#detail-text p', { timeout: 3000 });
        f.publishVerdict({ ...dropped, flow: { ...flow, sport: 1 }, where: { netns: '"><svg onload=alert(1)>', iface: 'i', hop: null } });
        await page.waitForFunction(() => document.querySelectorAll('tr.trouble').length === 2, undefined, { timeout: 5000 });
        expect(await page.$$('img')).toHaveLength(0);
        expect(await page.$$('main script, #troubles b, #detail-text svg')).toHaveLength(0);
        expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
        await screenshot(page, 'serve-page-escaping');
        expect(problems).toEqual([]);
      } finally {
        await page.context().close();
      }
    });

    it("a cluster's page: nodes with their state, the incident naming both nodes, its path marked on each node's part", async () => {
      const nodes: NodeStatusJson[] = [
        { type: 'node', node: 'node-a', state: 'up', since: 1, reason: null, retryMs: null, url: 'ws://198.18.0.11:9477/feed', source: 'flag', messages: 10 },
        { type: 'node', node: 'node-b', state: 'up', since: 1, reason: null, retryMs: null, url: 'ws://198.18.0.12:9477/feed', source: 'flag', messages: 12 },
      ];
      const incident: IncidentJson = {
        type: 'incident',
        id: 'tcp|x',
        ts: Date.now(),
        verdict: 'ptb-dropped',
        cause: 'rp_filter',
        flow,
        mtu: 1500,
        hop: '198.19.0.1',
        nodes: ['node-a', 'node-b'],
        summary: 'node node-a (r2) sent a PTB from 198.19.0.1 advertising MTU 1500; node node-b dropped it at s/to-r2 (rp_filter)',
        fix: 'On node node-b: let s route 198.19.0.1 back through to-r2.',
        parts: [
          { node: 'node-a', role: 'ptb-sent', netns: 'r2', iface: 'to-r1', hop: '198.19.0.1', mtu: 1500, reason: null, ts: 1, count: 3, what: 'r2 sent a PTB from 198.19.0.1 advertising MTU 1500 (too big for to-r1)' },
          { node: 'node-b', role: 'ptb-dropped', netns: 's', iface: 'to-r2', hop: '198.19.0.1', mtu: 1500, reason: 'IP_RPFILTER', ts: 1, count: 3, what: 's/to-r2 dropped the PTB from 198.19.0.1 (rp_filter)' },
        ],
      };
      const { f, base } = await feed({ cluster: true, formats: ['json'], greeting: () => nodes, snapshot: () => [{ ...dropped, node: 'node-b' } as VerdictJson], topology: () => [nodeA, nodeB] });
      const { page, problems } = await openPage(browser, `${base}/?token=page-token`);
      try {
        await page.waitForSelector('li.node[data-node="node-b"][data-state="up"]', { timeout: 5000 });
        f.publish({ ...nodes[1]!, state: 'down', reason: 'connect ECONNREFUSED 198.18.0.12:9477', retryMs: 4000, since: 2 });
        await page.waitForSelector('li.node[data-node="node-b"][data-state="down"]', { timeout: 5000 });
        expect(await page.textContent('li.node[data-node="node-b"]')).toContain('ECONNREFUSED');
        expect(await page.textContent('#conn')).toContain('1/2 node(s) up');
        f.publish(incident);
        const li = await page.waitForSelector('li.incident', { timeout: 5000 });
        expect(await li.getAttribute('data-nodes')).toBe('node-a node-b');
        await li.focus();
        await page.keyboard.press('Enter');
        await page.waitForSelector('#path svg.path', { timeout: 3000 });
        const marks = await page.$$eval('#path svg [data-mark]', (gs) => gs.map((g) => `${g.getAttribute('data-mark')} ${g.getAttribute('data-node')}:${g.getAttribute('data-netns')}/${g.getAttribute('data-iface') ?? ''}`));
        expect(marks.sort()).toEqual(['died node-b:s/to-r2', 'ptb-sender node-a:r2/', 'ptb-sender node-a:r2/to-r1']);
        expect(await page.$$eval('#path svg .step', (gs) => gs.map((g) => `${g.getAttribute('data-node')}:${g.getAttribute('data-netns')}`))).toEqual(['node-b:s', 'node-a:r2', 'node-a:r1', 'node-a:c']);
        expect(await page.$$eval('#detail-text .parts li', (ls) => ls.map((l) => l.getAttribute('data-node')))).toEqual(['node-a', 'node-b']);
        expect(await page.isVisible('#th-node')).toBe(true);
        await screenshot(page, 'cluster-page-incident');
        expect(problems).toEqual([]);
      } finally {
        await page.context().close();
      }
    });
  },
  { requires: [needChromium] },
);
