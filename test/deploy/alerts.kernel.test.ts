// deploy/ end to end: a real Prometheus (Debian's) scrapes three `serve`s on
// 127.0.0.1, one per simulated node, each watching its own lab and running with
// only the DaemonSet's (and the unit's) capabilities, through the bearer token
// as a cluster's would. node-a has a black hole (rp_filter eats the PTB),
// node-b healthy paths, node-c a PTB that is honored. The alert rules are
// deploy/prometheus/pmtu-watch-rules.yml with `for:` shortened to 2 s: the
// alert fires for node-a only; node-c's serve stopped, PmtuWatchDown fires for
// it. Every query of the Grafana dashboard then runs on that Prometheus, and
// names only metrics a real serve's /metrics has.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

import type { NetLab } from '../../src/lab/netlab.js';
import { scenario, type Built } from '../../src/lab/scenarios.js';
import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { observerAttached } from '../helpers/live.js';
import { startPrometheus, startServe, stop, type PrometheusServer, type Serve } from './agents.js';
import { dashboardQueries, DEPLOY, exportedNames, promqlMetricNames, SCRAPE_SERIES } from './helpers.js';

/** The rules as shipped, each `for:` replaced (Prometheus has no variable for it). */
function rulesWithFor(forDuration: string): string {
  const rules = parse(readFileSync(join(DEPLOY, 'prometheus/pmtu-watch-rules.yml'), 'utf8')) as { groups: { rules: { for?: string }[] }[] };
  for (const g of rules.groups) for (const r of g.rules) if (r.for !== undefined) r.for = forDuration;
  return stringify(rules);
}

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

kernelDescribe(
  'deploy: Prometheus alerts from several nodes',
  () => {
    const labs = useLabs();
    const serves: Serve[] = [];
    let prom: PrometheusServer | undefined;
    afterEach(async () => {
      await prom?.close();
      prom = undefined;
      await Promise.all(serves.splice(0).map((s) => stop(s.child)));
    });

    it('fires the black-hole alert for the node that has one, only, and PmtuWatchDown for a stopped agent', async () => {
      const t0 = Date.now();
      const token = randomBytes(16).toString('hex');
      const nodes: { node: string; scenario: string; lab?: NetLab; built?: Built; serve?: Serve }[] = [
        { node: 'node-a', scenario: 'rp-filter' },
        { node: 'node-b', scenario: 'healthy' },
        { node: 'node-c', scenario: 'router-bottleneck' },
      ];
      for (const n of nodes) {
        n.lab = await labs.create(`prom${n.node.slice(-1)}`);
        n.built = await scenario(n.scenario)!.build(n.lab);
        n.serve = await startServe(Object.values(n.built.ns), { token });
        serves.push(n.serve);
      }
      for (const n of nodes) {
        const ready = n.built!.readyOn;
        await waitFor(() => observerAttached(n.lab!, n.built!.ns[ready.role]!, ready.ifname), 15_000);
      }
      const tBuilt = Date.now();

      prom = await startPrometheus(
        stringify({
          global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
          rule_files: ['rules.yml'],
          scrape_configs: [
            {
              job_name: 'pmtu-watch',
              authorization: { credentials_file: 'token' },
              static_configs: nodes.map((n) => ({ targets: [`127.0.0.1:${n.serve!.port}`], labels: { node: n.node } })),
            },
          ],
        }),
        { 'rules.yml': rulesWithFor('2s'), token },
      );
      await waitFor(async () => {
        const t = await prom!.api<{ activeTargets: { health: string }[] }>('targets');
        return t.activeTargets.length === 3 && t.activeTargets.every((x) => x.health === 'up');
      }, 15_000, 250);

      let tBlackHole = 0; // node-a's traffic over: its verdict is there
      for (const n of nodes) {
        await scenario(n.scenario)!.drive(n.lab!, n.built!);
        if (n.node === 'node-a') tBlackHole = Date.now();
      }
      const tDriven = Date.now();

      const alerts = async () => (await prom!.api<{ alerts: Alert[] }>('alerts')).alerts;
      const firing = await waitFor(async () => {
        const a = await alerts();
        return a.find((x) => x.labels.alertname === 'PmtuPtbDropped' && x.state === 'firing') ? a : undefined;
      }, 20_000, 250);
      const tFired = Date.now();
      expect(firing.filter((a) => a.labels.alertname === 'PmtuPtbDropped')).toEqual([
        expect.objectContaining({ state: 'firing', labels: expect.objectContaining({ node: 'node-a', job: 'pmtu-watch', verdict: 'ptb-dropped', cause: 'rp_filter', severity: 'critical' }) }),
      ]);
      // node-c's PTB was judged (honored) and no alert is about it; node-b had nothing.
      const honored = await prom.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `query?query=${encodeURIComponent('pmtu_flows_by_verdict{verdict="ptb-honored"}')}`,
      );
      expect(honored.result.map((r) => r.metric.node)).toContain('node-c');
      expect(firing.filter((a) => a.labels.node !== 'node-a')).toEqual([]);

      // Every dashboard query runs here; the names come from a real serve's /metrics.
      const scraped = await (await fetch(`http://127.0.0.1:${nodes[0]!.serve!.port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      const exported = exportedNames(scraped);
      const dash = JSON.parse(readFileSync(join(DEPLOY, 'grafana/pmtu-watch.json'), 'utf8'));
      const empty: string[] = [];
      for (const q of dashboardQueries(dash)) {
        expect(promqlMetricNames(q.expr).filter((m) => !exported.has(m) && !SCRAPE_SERIES.has(m)), q.where).toEqual([]);
        const expr = q.expr.replaceAll('$node', '.*').replaceAll('$__rate_interval', '15s');
        const r = await prom.api<{ result: unknown[] }>(`query?query=${encodeURIComponent(expr)}`);
        if (r.result.length === 0) empty.push(q.where);
      }
      // Losses, drops and PTBs by MTU may be empty on a quiet minute; the troubles, the agent and the node variable are not.
      for (const must of ['panel "Flows in trouble, by node, verdict and cause"', 'panel "CPU, cores"', 'panel "Memory (resident)"', 'a variable']) expect(empty).not.toContain(must);

      const rssQ = await prom.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`query?query=${encodeURIComponent('max_over_time(process_resident_memory_bytes[1m])')}`);
      const rss = rssQ.result.map((r) => `${r.metric.node} ${(Number(r.value[1]) / 2 ** 20).toFixed(0)} MiB`).sort().join(', ');
      await stop(nodes[2]!.serve!.child);
      const tStopped = Date.now();
      const down = await waitFor(async () => (await alerts()).find((a) => a.labels.alertname === 'PmtuWatchDown' && a.state === 'firing'), 15_000, 250);
      expect(down.labels).toMatchObject({ node: 'node-c', job: 'pmtu-watch' });
      expect((await alerts()).filter((a) => a.labels.alertname === 'PmtuWatchDown').map((a) => a.labels.node)).toEqual(['node-c']);
      console.log(
        `deploy e2e: labs and serves ready in ${((tBuilt - t0) / 1000).toFixed(1)} s, traffic ${((tDriven - tBuilt) / 1000).toFixed(1)} s, ` +
          `PmtuPtbDropped firing when first asked, ${((tFired - tBlackHole) / 1000).toFixed(1)} s after node-a's traffic (for: 2s), ` +
          `PmtuWatchDown ${((Date.now() - tStopped) / 1000).toFixed(1)} s after node-c's serve stopped; agents' resident memory ${rss}; ` +
          `empty dashboard queries: ${empty.join(', ') || 'none'}`,
      );
    }, 120_000);
  },
  { requires: [needBtf, needLabTools, needAddon, needCommands('prometheus', 'setpriv')] },
);
