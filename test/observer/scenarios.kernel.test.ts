// Every field failure of SCENARIOS.md, built for real in namespaces, driven
// with real traffic while `pmtu-watch live --json` watches: the verdict, its
// cause, where and the MTU must be the ones the scenario expects, and the
// healthy path must raise nothing. tcpdump records the same traffic where
// each scenario shows its failure (as `lab demo --pcap` does), and
// `pmtu-watch analyze` of those files must say what a capture can show of it
// (CAPTURED below): live's verdict where the packets carry the cause, the
// capture's view of it where only the kernel saw it (a drop inside a host).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { recordAt } from '../../src/cli/lab.js';
import type { PacketRecording } from '../../src/lab/traffic.js';

import type { NetLab } from '../../src/lab/netlab.js';
import { SCENARIOS, expectedText, isCutOff, meetsCutOff, meetsExpected, type Built, type LinkLike, type Scenario } from '../../src/lab/scenarios.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, runLive, trafficFlows, verdictLatencies, verdicts, type LiveRun, type VerdictLine } from '../helpers/live.js';

/**
 * What analyze must find in each scenario's capture: a verdict (with cause,
 * hop and MTU where given) for a flow of `proto`, or nothing in trouble.
 * `between`: the loss placed between two capture points (NAME-ROLE-IFACE, as
 * the files are named), upstream first; `pathMtu`: the real path MTU, which the
 * bounds must hold (largest passed <= it < smallest lost).
 */
interface CapturedVerdict {
  verdict: string;
  cause?: string | null;
  hop?: string;
  mtu?: number;
  proto: string;
  note?: RegExp;
  between?: [string, string];
  pathMtu?: number;
}
type Captured = CapturedVerdict | CapturedVerdict[] | 'no-trouble';
const CAPTURED: Record<string, Captured> = {
  healthy: 'no-trouble',
  'router-bottleneck': { verdict: 'ptb-honored', hop: '198.18.1.1', mtu: 1500, proto: 'tcp', note: /the sender adapted/ },
  // The PTB reaches s and dies in s's rp_filter: the capture sees it arrive and s go on sending big.
  'rp-filter': { verdict: 'ptb-not-honored', hop: '198.19.0.1', mtu: 1500, proto: 'tcp', note: /rp_filter on/ },
  // The same on c, whose firewall eats it after tcpdump saw it.
  firewall: { verdict: 'ptb-not-honored', hop: '198.18.1.1', mtu: 1500, proto: 'tcp' },
  // Captured on either side of r1, or of the bridge: what c (g1) sent and never reached s (g2), bounded by what did.
  'silent-blackhole': { verdict: 'silent-blackhole', cause: 'no-ptb', proto: 'tcp', between: ['silent-blackhole-c-to-r1', 'silent-blackhole-s-to-r2'], pathMtu: 1500 },
  'bridge-port': [
    { verdict: 'silent-blackhole', cause: 'no-ptb', proto: 'tcp', between: ['bridge-port-g1-eth0', 'bridge-port-g2-eth0'], pathMtu: 1500 },
    // Pings of 8000 bytes and of 1472: the bounds are the port's MTU and the large ping.
    { verdict: 'silent-blackhole', cause: 'no-ptb', proto: 'icmp', between: ['bridge-port-g1-eth0', 'bridge-port-g2-eth0'], pathMtu: 1500 },
  ],
  'nested-containers': { verdict: 'ptb-not-honored', mtu: 1450, proto: 'tcp' },
  // Either side of the nodes: the pods' full-size packets never reach the other pod, their 1000-byte pings do (1450 fits).
  overlay: [
    { verdict: 'silent-blackhole', cause: 'no-ptb', proto: 'tcp', between: ['overlay-p1-eth0', 'overlay-p2-eth0'], pathMtu: 1450 },
    { verdict: 'silent-blackhole', cause: 'no-ptb', proto: 'icmp', between: ['overlay-p1-eth0', 'overlay-p2-eth0'], pathMtu: 1450 },
  ],
  ipv6: { verdict: 'ptb-honored', hop: '2001:db8:1::1', mtu: 1500, proto: 'tcp' },
  'mss-clamp': { verdict: 'ok', proto: 'tcp', note: /MSS rewritten on the path/ },
  'bridge-restart': 'no-trouble',
  'decap-rp-filter': 'no-trouble',
};

const TROUBLE = new Set(['ptb-dropped', 'ptb-not-honored', 'silent-blackhole', 'local-bottleneck']);

/** `pmtu-watch analyze --json` of the files: the last verdict of every flow. */
function analyzed(files: string[]): { code: number | null; verdicts: VerdictLine[]; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'analyze', '--json', ...files], { encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as VerdictLine);
  return { code: r.status, verdicts: finals(lines.filter((l) => l.type === 'verdict')), stderr: r.stderr };
}

/** The last verdict of every flow. */
function finals(lines: VerdictLine[]): VerdictLine[] {
  const last = new Map<string, VerdictLine>();
  for (const v of lines) last.set(`${v.flow.proto}|${v.flow.src}|${v.flow.sport}|${v.flow.dst}|${v.flow.dport}`, v);
  return [...last.values()];
}

function judgeLive(sc: Scenario, run: LiveRun, built: Built): void {
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
}

function judgeCapture(sc: Scenario, files: string[]): void {
  const want = CAPTURED[sc.name];
  expect(want, `no CAPTURED entry for ${sc.name}`).toBeDefined();
  expect(files.length).toBeGreaterThan(0);
  const a = analyzed(files);
  console.log(
    `${sc.name} (analyze of ${files.length} capture(s)): ${a.verdicts.map((v) => `${v.flow.proto} ${v.verdict}${v.cause ? `/${v.cause}` : ''}${v.where.hop ? ` hop ${v.where.hop}` : ''}${v.mtu ? ` mtu ${v.mtu}` : ''}`).join(', ') || 'no verdicts'}`,
  );
  expect(a.code, a.stderr).toBe(0);
  if (want === 'no-trouble') {
    expect(a.verdicts.filter((v) => TROUBLE.has(v.verdict)).map((v) => v.verdict)).toEqual([]);
    return;
  }
  const seen = a.verdicts.map((v) => ({ verdict: v.verdict, cause: v.cause, flow: v.flow, where: v.where, mtu: v.mtu, bounds: v.bounds, notes: v.notes }));
  for (const w of Array.isArray(want) ? want : [want!]) {
    const match = a.verdicts.find(
      (v) =>
        v.flow.proto === w.proto &&
        v.verdict === w.verdict &&
        (w.cause === undefined || v.cause === w.cause) &&
        (w.hop === undefined || v.where.hop === w.hop) &&
        (w.mtu === undefined || v.mtu === w.mtu) &&
        (w.note === undefined || (v.notes as string[]).some((n) => w.note!.test(n))) &&
        (w.between === undefined || (v.where.netns === w.between[0] && v.where.next?.netns === w.between[1])) &&
        (w.pathMtu === undefined || ((v.bounds?.largestOk ?? 0) <= w.pathMtu && (v.bounds?.smallestLost ?? 0) > w.pathMtu)),
    );
    expect(match, `expected ${JSON.stringify({ ...w, note: w.note?.source })} among ${JSON.stringify(seen)}`).toBeDefined();
  }
  // A healthy traffic is healthy from every point alone too (the server's side of a clamp sees its peer's segments merged).
  if (!Array.isArray(want) && want!.verdict === 'ok') {
    expect(a.verdicts.filter((v) => TROUBLE.has(v.verdict)).map((v) => v.verdict)).toEqual([]);
    for (const f of files) expect(analyzed([f]).verdicts.filter((v) => TROUBLE.has(v.verdict)).map((v) => `${f}: ${v.verdict}`)).toEqual([]);
  }
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
        const dir = mkdtempSync(join(tmpdir(), `pmtu-scn${sc.number}-`));
        let recordings: PacketRecording[] = [];
        try {
          const run = await runLive(
            lab,
            args,
            { ns: built.ns[built.readyOn.role]!, ifname: built.readyOn.ifname },
            async () => {
              recordings = await recordAt(lab!, sc, built, dir);
              await sc.drive(lab!, built);
              await new Promise((r) => setTimeout(r, 300)); // the last packets reach the files
              for (const r of recordings.splice(0)) await r.stop();
            },
            { maxSeconds: 60 },
          );
          judgeLive(sc, run, built);
          judgeCapture(sc, readdirSync(dir).map((f) => join(dir, f)));
        } finally {
          for (const r of recordings) await r.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  },
  { requires: [needBtf, needLabTools, needCommands('openssl', 'curl'), needAddon] },
);
