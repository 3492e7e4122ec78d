// `npm run bench` (node --expose-gc dist/bench/run.js [--json]): what
// pmtu-watch costs and how fast it goes, each figure measured side by side
// with its peer in the same run (README, "Benchmarks"). Targets are printed
// next to the figures; missing one does not fail the run. Only a figure of
// pmtu-watch's own that could not be measured does (exit 1).

import { spawnSync } from 'node:child_process';
import { availableParallelism, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { oneLine } from '../errors.js';
import { loadAddon } from '../observer/addon.js';
import { measureBusy, TITLE as BUSY_TITLE } from './busy.js';
import { measureCapture } from './capture.js';
import { measureFlows } from './flows.js';
import { measureForeign } from './foreign.js';
import { measureNetns } from './netns.js';
import { measurePipeline } from './pipeline.js';
import { formatTable, notAvailable, toJson, unmeasured, type BenchReport, type Section } from './report.js';
import { measureTcCost } from './tc-cost.js';
import { measureTraffic } from './traffic.js';

const ENSURE_DEB = fileURLToPath(new URL('../../scripts/ensure-deb.sh', import.meta.url));

type Step = { id: string; title: string; run: (progress: (msg: string) => void) => Section | Promise<Section> };

const STEPS: Step[] = [
  { id: 'tc', title: '1. tc program, per packet', run: () => measureTcCost() },
  { id: 'pipeline', title: '2. Event pipeline', run: measurePipeline },
  { id: 'traffic', title: '3. Traffic overhead', run: measureTraffic },
  { id: 'flows', title: '4. Correlator', run: measureFlows },
  { id: 'capture', title: '5. Captures', run: measureCapture },
  { id: 'busy', title: BUSY_TITLE, run: measureBusy },
  { id: 'netns', title: '7. Namespace discovery', run: measureNetns },
  { id: 'pcap', title: "8. Other tools' captures", run: measureForeign },
];


/** ms for 1e8 additions, best of three: a yardstick for this machine's speed next to the figures. */
function cpuSpeed(): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t = performance.now();
    let x = 0;
    for (let i = 0; i < 1e8; i++) x += i;
    if (x < 0) throw new Error('unreachable'); // keeps the loop from being optimised away
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

async function main(args: string[]): Promise<number> {
  const usage = `usage: npm run bench [-- [--json] [--only ${STEPS.map((s) => s.id).join(',')}]]`;
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter((id) => id !== '') : undefined;
  const unknown = args.filter((a, i) => a !== '--json' && i !== onlyAt && i !== onlyAt + 1);
  const badStep = only?.find((id) => !STEPS.some((s) => s.id === id));
  if (unknown.length || badStep !== undefined || only?.length === 0) {
    process.stderr.write(`pmtu-watch bench: ${badStep !== undefined ? `no section ${badStep}` : unknown.length ? `unknown argument ${unknown[0]}` : '--only needs sections'}; ${usage}\n`);
    return 2;
  }
  const json = args.includes('--json');
  if (process.getuid?.() !== 0) {
    process.stderr.write('pmtu-watch bench: needs root (it loads BPF programs and builds network namespaces): sudo npm run bench\n');
    return 1;
  }
  try {
    loadAddon();
  } catch (e) {
    process.stderr.write(`${oneLine(e)}\n`);
    return 1;
  }
  // The peers (iperf3, tcpdump, bpftrace): installed when missing; a peer that
  // still cannot run is a row saying why, not a failed run.
  const tools = spawnSync('bash', [ENSURE_DEB, 'bench'], { stdio: ['ignore', 2, 2] });
  if (tools.status !== 0) process.stderr.write('pmtu-watch bench: some peers are missing; their rows will say n/a\n');

  const started = Date.now();
  const jsLoopMs = cpuSpeed();
  const progress = (msg: string) => process.stderr.write(`bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s: ${msg}\n`);
  const sections: Section[] = [];
  for (const step of STEPS.filter((s) => !only || only.includes(s.id))) {
    progress(step.title);
    try {
      sections.push(await step.run(progress));
    } catch (e) {
      const why = (e as Error).message.split('\n')[0] ?? String(e);
      sections.push({ id: step.id, title: step.title, how: 'failed', figures: [notAvailable(`${step.id}.failed`, 'measurement', 'count', why)] });
    }
  }
  progress('done');

  const report: BenchReport = {
    host: { kernel: release(), cpus: availableParallelism(), node: process.version, date: new Date(started).toISOString(), jsLoopMs },
    sections,
  };
  process.stdout.write(`${json ? toJson(report) : formatTable(report)}\n`);
  const missing = unmeasured(report);
  if (missing.length) {
    process.stderr.write(`pmtu-watch bench: could not measure ${missing.map((f) => `${f.id} (${f.na})`).join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
