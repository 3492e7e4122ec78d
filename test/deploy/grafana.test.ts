// The Grafana dashboard and the alert rules ask only for metrics /metrics
// really exports: the registry a `serve` runs, scraped over HTTP (the kernel
// test scrapes a real serve and has Prometheus run every query).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { StatsJson } from '../../src/contract/stats.js';
import { Feed } from '../../src/feed/server.js';
import { dashboardQueries, DEPLOY, exportedNames, promqlMetricNames, SCRAPE_SERIES, yamlDocs } from './helpers.js';

const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana/pmtu-watch.json'), 'utf8'));

const stats: StatsJson = {
  type: 'stats',
  elapsedS: 5,
  interfaces: 2,
  events: {},
  losses: { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 10, unknownRecords: 0 },
  flows: { flows: 1, evicted: 0, expired: 0, unmatched: 0, events: 1 },
  traffic: { flows: 1, syns: 1, synAcks: 1, ptbs: 0, byHook: [{ netns: 'host', iface: 'eth0', flows: 1, syns: 1, synAcks: 1, ptbs: 0 }] },
};

/** The metric names a rule may take from elsewhere: kube-state-metrics. */
const FROM_KUBE_STATE_METRICS = new Set(['kube_daemonset_status_number_unavailable']);

describe('deploy: the queries name metrics /metrics exports', () => {
  let feed: Feed;
  let exported: Set<string>;
  beforeAll(async () => {
    feed = await Feed.start({ host: '127.0.0.1', port: 0, snapshot: () => [], stats: () => stats });
    exported = exportedNames(await (await fetch(`http://127.0.0.1:${feed.address().port}/metrics`)).text());
  });
  afterAll(() => feed.close());

  it('finds the metric names of PromQL expressions', () => {
    expect(promqlMetricNames('sum by (node, verdict) (rate(pmtu_verdicts_total{node=~"$node"}[$__rate_interval])) > 0')).toEqual(['pmtu_verdicts_total']);
    expect(promqlMetricNames('count(sum by (node) (a{x="b or c"}) > 0) or vector(0) + b_total offset 5m / on (node) group_left (z) c:rec * 1e3')).toEqual(['a', 'b_total', 'c:rec']);
    expect(promqlMetricNames('delta(pmtu_lost_events[5m]) > 0')).toEqual(['pmtu_lost_events']);
  });

  it('every query of deploy/grafana/pmtu-watch.json', () => {
    const queries = dashboardQueries(dashboard);
    expect(queries.length).toBeGreaterThan(15);
    const unknown = queries.flatMap((q) => promqlMetricNames(q.expr).filter((n) => !exported.has(n) && !SCRAPE_SERIES.has(n)).map((n) => `${q.where}: ${n}`));
    expect(unknown).toEqual([]);
    // What the issue asks of it: troubles by node, verdict and cause; events and losses; the agent's CPU and memory.
    const all = queries.map((q) => q.expr).join('\n');
    for (const needed of ['pmtu_flows_by_verdict', 'pmtu_events_total', 'pmtu_lost_events', 'process_cpu_seconds_total', 'process_resident_memory_bytes']) expect(all).toContain(needed);
    expect(all).toMatch(/by \(node, verdict, cause\)/);
  });

  it('every rule of deploy/prometheus/pmtu-watch-rules.yml', () => {
    const groups = yamlDocs('prometheus').find((d) => d.file === 'pmtu-watch-rules.yml')!.doc.groups as { rules: { alert: string; expr: string }[] }[];
    const rules = groups.flatMap((g) => g.rules);
    const unknown = rules.flatMap((r) => promqlMetricNames(r.expr).filter((n) => !exported.has(n) && !SCRAPE_SERIES.has(n) && !FROM_KUBE_STATE_METRICS.has(n)).map((n) => `${r.alert}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('is a dashboard Grafana imports: one data source variable, unique panel ids, every panel on it', () => {
    expect(dashboard).toMatchObject({ uid: 'pmtu-watch', title: 'pmtu-watch', schemaVersion: expect.any(Number) });
    const vars = dashboard.templating.list as { name: string; type: string }[];
    expect(vars.filter((v) => v.type === 'datasource').map((v) => v.name)).toEqual(['datasource']);
    const panels = dashboard.panels as { id: number; type: string; datasource?: { uid: string }; targets?: { datasource: { uid: string }; refId: string }[] }[];
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid).toBe('${datasource}');
      expect(p.targets?.length).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource.uid).toBe('${datasource}');
    }
  });
});
