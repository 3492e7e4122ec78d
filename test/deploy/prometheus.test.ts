// The alert rules as Prometheus reads them: `promtool check rules`, and their
// tests (deploy/prometheus/pmtu-watch-rules.test.yml) with `promtool test rules`.
// The kernel test (alerts.kernel.test.ts) has a real server fire them.

import { expect, it } from 'vitest';

import { DEPLOY, run, toolDescribe, yamlDocs } from './helpers.js';

toolDescribe('deploy: Prometheus rules', ['promtool'], () => {
  it('promtool check rules deploy/prometheus/pmtu-watch-rules.yml', async () => {
    const r = await run('promtool', ['check', 'rules', 'deploy/prometheus/pmtu-watch-rules.yml'], { cwd: `${DEPLOY}/..` });
    expect(r.stdout).toContain('SUCCESS: 7 rules found');
  });

  it('promtool test rules deploy/prometheus/pmtu-watch-rules.test.yml', async () => {
    const r = await run('promtool', ['test', 'rules', 'deploy/prometheus/pmtu-watch-rules.test.yml'], { cwd: `${DEPLOY}/..` });
    expect(r.stdout).toContain('SUCCESS');
  });

  it('has an alert for each verdict the issue names, events lost and the agent down, each tested', () => {
    const rules = (yamlDocs('prometheus').find((d) => d.file === 'pmtu-watch-rules.yml')!.doc.groups as { rules: { alert: string; expr: string; labels: { severity: string } }[] }[]).flatMap((g) => g.rules);
    const byVerdict = Object.fromEntries(rules.flatMap((r) => (/verdict="([^"]+)"/.exec(r.expr) ? [[/verdict="([^"]+)"/.exec(r.expr)![1]!, r.alert]] : [])));
    expect(byVerdict).toEqual({ 'ptb-dropped': 'PmtuPtbDropped', 'silent-blackhole': 'PmtuSilentBlackhole', 'local-bottleneck': 'PmtuLocalBottleneck', 'ptb-not-honored': 'PmtuPtbNotHonored' });
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['PmtuWatchEventsLost', 'PmtuWatchDown']));
    for (const r of rules) expect(['critical', 'warning']).toContain(r.labels.severity);
    const tests = yamlDocs('prometheus').find((d) => d.file === 'pmtu-watch-rules.test.yml')!.doc.tests as { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    const firedInATest = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect([...firedInATest].sort()).toEqual(rules.map((r) => r.alert).sort());
  });
});
