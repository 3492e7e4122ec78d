// Every field failure of SCENARIOS.md, built for real in namespaces, driven
// with real traffic while `pmtu-watch live --json` watches: the verdict, its
// cause, where and the MTU must be the ones the scenario expects, and the
// healthy path must raise nothing.

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { SCENARIOS, expectedText, isCutOff, meetsCutOff, meetsExpected, type LinkLike } from '../../src/lab/scenarios.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { runLive, trafficFlows, verdictLatencies, verdicts, type VerdictLine } from '../helpers/live.js';

/** The last verdict of every flow. */
function finals(lines: VerdictLine[]): VerdictLine[] {
  const last = new Map<string, VerdictLine>();
  for (const v of lines) last.set(`${v.flow.proto}|${v.flow.src}|${v.flow.sport}|${v.flow.dst}|${v.flow.dport}`, v);
  return [...last.values()];
}

kernelDescribe(
  'the scenarios, end to end',
  () => {
    const labs = useLabs();
    let lab: NetLab | undefined;

    for (const sc of SCENARIOS) {
      it(`${sc.number} ${sc.name}: ${expectedText(sc.expected)}`, async () => {
        lab = await labs.create(`scn${sc.number}`);
        const built = await sc.build(lab);
        const args = Object.values(built.ns).flatMap((ns) => ['--netns', ns]);
        const run = await runLive(lab, args, { ns: built.ns[built.readyOn.role]!, ifname: built.readyOn.ifname }, () => sc.drive(lab!, built), { maxSeconds: 60 });
        expect(run.code).toBe(0);
        if (isCutOff(sc.expected)) {
          // No MTU failure: what pmtu-watch must say is which guest ports lost their bridge.
          const links = run.lines.filter((l) => l.type === 'event' && l.kind === 'link') as unknown as LinkLike[];
          const warnings = run.stderr.split('\n').filter((l) => l.startsWith('pmtu-watch: warning: '));
          const met = meetsCutOff(links, warnings, sc.expected, built.ns);
          console.log(`${sc.name}: ${links.length} link events; ${warnings.length} warnings`);
          expect(met.missing, `${JSON.stringify(links)}\n${warnings.join('\n')}`).toEqual([]);
          return;
        }
        const all = finals(verdicts(run));
        const flows = trafficFlows(run);
        const latency = Math.max(0, ...verdictLatencies(run));
        console.log(`${sc.name}: ${flows} flows seen; ${all.map((v) => `${v.verdict}${v.cause ? `/${v.cause}` : ''}`).join(', ')}; verdict latency max ${latency.toFixed(1)} ms`);
        expect(latency).toBeLessThan(1000);

        // The registry's own judgement, the one `lab demo` prints.
        const { ok, match } = meetsExpected(all, sc.expected, built.ns, flows);
        if (sc.expected === 'all-ok') {
          // Healthy flows make no verdict lines now, only counts: the kernel saw them, and nothing is wrong.
          expect(flows).toBeGreaterThan(0);
          expect(all.map((v) => v.verdict)).toEqual(all.map(() => 'ok'));
          expect(ok).toBe(true);
          return;
        }
        expect(all.length).toBeGreaterThan(0);
        const summary = all.map((v) => ({ verdict: v.verdict, cause: v.cause, flow: v.flow, where: v.where, mtu: v.mtu }));
        expect(ok, `expected ${JSON.stringify(sc.expected)} among ${JSON.stringify(summary)}`).toBe(true);
        // A fix for every problem; none for what needs none.
        expect(match!.fix === null).toBe(match!.verdict === 'ok' || match!.verdict === 'ptb-honored');
      });
    }
  },
  { requires: [needBtf, needLabTools, needCommands('openssl', 'curl'), needAddon] },
);
