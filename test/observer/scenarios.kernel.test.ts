// Every field failure of SCENARIOS.md, built for real in namespaces, driven
// with real traffic while `pmtu-watch live --json` watches: the verdict, its
// cause, where and the MTU must be the ones the scenario expects, and the
// healthy path must raise nothing.

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { SCENARIOS } from '../../src/lab/scenarios.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { runLive, verdictLatencies, verdicts, type VerdictLine } from '../helpers/live.js';

/** The last verdict of every flow. */
function finals(lines: VerdictLine[]): VerdictLine[] {
  const last = new Map<string, VerdictLine>();
  for (const v of lines) last.set(`${v.flow.proto}|${v.flow.src}|${v.flow.sport}|${v.flow.dst}|${v.flow.dport}`, v);
  return [...last.values()];
}

kernelDescribe(
  'the ten scenarios, end to end',
  () => {
    const labs = useLabs();
    let lab: NetLab | undefined;

    for (const sc of SCENARIOS) {
      it(`${sc.number} ${sc.name}: ${sc.expected === 'all-ok' ? 'every flow ok' : `${sc.expected.verdict}${sc.expected.cause ? ` (${sc.expected.cause})` : ''}`}`, async () => {
        lab = await labs.create(`scn${sc.number}`);
        const built = await sc.build(lab);
        const args = Object.values(built.ns).flatMap((ns) => ['--netns', ns]);
        const run = await runLive(lab, args, { ns: built.ns[built.readyOn.role]!, ifname: built.readyOn.ifname }, () => sc.drive(lab!, built), { maxSeconds: 60 });
        expect(run.code).toBe(0);
        const all = finals(verdicts(run));
        expect(all.length).toBeGreaterThan(0);
        const latency = Math.max(...verdictLatencies(run));
        console.log(`${sc.name}: ${all.map((v) => `${v.verdict}${v.cause ? `/${v.cause}` : ''}`).join(', ')}; verdict latency max ${latency.toFixed(1)} ms`);
        expect(latency).toBeLessThan(1000);

        if (sc.expected === 'all-ok') {
          expect(all.map((v) => v.verdict)).toEqual(all.map(() => 'ok'));
          return;
        }
        const want = sc.expected;
        const match = all.find(
          (v) =>
            v.verdict === want.verdict &&
            (want.proto === undefined || v.flow.proto === want.proto) &&
            (want.cause === undefined || v.cause === want.cause) &&
            (want.mtu === undefined || v.mtu === want.mtu) &&
            (want.note === undefined || v.notes.some((n) => n.includes(want.note!))) &&
            (want.where === undefined ||
              (v.where.netns === built.ns[want.where.role] && v.where.iface === want.where.iface && (want.where.hop === undefined || v.where.hop === want.where.hop))),
        );
        expect(match, `expected ${JSON.stringify(want)} among ${JSON.stringify(all.map((v) => ({ verdict: v.verdict, cause: v.cause, flow: v.flow, where: v.where, mtu: v.mtu })))}`).toBeDefined();
        if (match!.verdict !== 'ok') expect(match!.fix === null || typeof match!.fix === 'string').toBe(true);
      });
    }
  },
  { requires: [needBtf, needLabTools, needCommands('openssl', 'curl'), needAddon] },
);
