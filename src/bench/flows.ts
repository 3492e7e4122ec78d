// 4. The correlator alone: how many events a second it takes, and how much
// heap each flow it tracks holds, at 10k, 100k and 1M flows. Its table is
// bounded (maxFlows, 65536 by default, least recently active evicted), so
// from 100k flows on the heap must stop growing.

import { performance } from 'node:perf_hooks';

import { Correlator } from '../correlate/correlator.js';
import type { EventJson } from '../contract/event.js';
import { flowEvent, type BenchKind } from './events.js';
import { notAvailable, type Figure, type Section } from './report.js';

const FLOW_COUNTS = [10_000, 100_000, 1_000_000];
/**
 * One event per flow, its SYN: every event makes a flow, the correlator's
 * dearest case (and 1M flows stay within the bench's time).
 */
const KINDS: BenchKind[] = ['syn'];
/**
 * The first unmeasured warm-up: past the table's cap, as the larger measured
 * runs go (eviction compiled too), and long enough for V8 to settle where it
 * allocates flows (deciding to pretenure them deoptimizes what allocates them).
 */
const WARM_FLOWS = 100_000;
/** Events are made this many flows at a time, outside the timing. */
const CHUNK_FLOWS = 10_000;
/** Targets (issue #6). */
const MIN_RATE = 500_000;
/** Per-flow heap at the cap within this factor of the 10k figure: linear. */
const LINEAR_TOLERANCE = 0.25;
/** Heap at 1M flows at most this much above 100k's: capped. */
const CAP_TOLERANCE = 0.1;

interface FlowRun {
  flows: number;
  tracked: number;
  evicted: number;
  events: number;
  rate: number;
  heapBytes: number;
}

function heapUsed(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function run(flows: number, gc: () => void, keep?: Correlator[]): FlowRun {
  const before = heapUsed(gc);
  const correlator = new Correlator();
  let ts = Date.now();
  let ms = 0;
  let events = 0;
  for (let first = 0; first < flows; first += CHUNK_FLOWS) {
    let chunk: EventJson[] = [];
    for (let i = first; i < Math.min(flows, first + CHUNK_FLOWS); i++) for (const k of KINDS) chunk.push(flowEvent(i, k, (ts += 0.001)));
    const t = performance.now();
    for (const ev of chunk) correlator.push(ev);
    ms += performance.now() - t;
    events += chunk.length;
    chunk = [];
  }
  const heapBytes = heapUsed(gc) - before;
  const stats = correlator.stats(); // after the measurement: the correlator is still alive in it
  keep?.push(correlator);
  return { flows, tracked: stats.flows, evicted: stats.evicted, events, rate: events / (ms / 1000), heapBytes };
}

function short(n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
}

export function measureFlows(progress: (msg: string) => void): Section {
  const section: Section = {
    id: 'flows',
    title: '4. Correlator, events in and heap per tracked flow',
    how: `one SYN event per flow, default options (maxFlows 65536), after unmeasured warm-up runs of ${short(WARM_FLOWS)} and ${short(FLOW_COUNTS[0]!)} (that one's correlator kept alive); heap = heapUsed after gc() with the correlator alive, minus before it`,
    figures: [],
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    for (const n of FLOW_COUNTS) section.figures.push(notAvailable(`flows.${short(n)}.rate`, `${short(n)} flows: events/s`, 'events/s', 'run node with --expose-gc'));
    return section;
  }
  const runs: FlowRun[] = [];
  // Unmeasured runs first, so that the figures are of compiled (JIT) code. The second one's
  // correlator stays alive until they are taken: V8 throws away code compiled for objects whose
  // shapes (maps) all died, and the first measured run, after a warm-up that did, compiled again.
  progress('correlator: warm-up');
  run(WARM_FLOWS, gc);
  const warm: Correlator[] = [];
  run(FLOW_COUNTS[0]!, gc, warm);
  for (const n of FLOW_COUNTS) {
    progress(`correlator: ${short(n)} flows`);
    runs.push(run(n, gc));
  }
  warm.length = 0; // used until here: kept alive through the measured runs
  for (const r of runs) {
    const name = short(r.flows);
    section.figures.push({
      id: `flows.${name}.rate`,
      label: `${name} flows: events/s`,
      value: r.rate,
      unit: 'events/s',
      target: { text: `>= ${MIN_RATE / 1000}k ev/s`, pass: r.rate >= MIN_RATE },
    });
    const bytes: Figure = {
      id: `flows.${name}.bytes`,
      label: `${name} flows: heap per tracked flow`,
      value: r.heapBytes / r.tracked,
      unit: 'bytes',
      note: `${(r.heapBytes / 1e6).toFixed(1)} MB for ${r.tracked} tracked flows (${r.evicted} evicted)`,
    };
    section.figures.push(bytes);
  }
  const [small, atCap, beyond] = runs as [FlowRun, FlowRun, FlowRun];
  const linear = atCap.heapBytes / atCap.tracked / (small.heapBytes / small.tracked);
  section.figures.push({
    id: 'flows.linear',
    label: 'per-flow heap, 100k flows / 10k flows',
    value: linear,
    unit: 'percent',
    target: { text: `${Math.round((1 - LINEAR_TOLERANCE) * 100)}-${Math.round((1 + LINEAR_TOLERANCE) * 100)}% (linear)`, pass: Math.abs(linear - 1) <= LINEAR_TOLERANCE },
  });
  const capped = beyond.heapBytes / atCap.heapBytes;
  section.figures.push({
    id: 'flows.capped',
    label: 'heap, 1M flows / 100k flows',
    value: capped,
    unit: 'percent',
    // Capped: the table stopped at the same size, and the heap with it.
    target: { text: `<= ${Math.round((1 + CAP_TOLERANCE) * 100)}% (capped)`, pass: capped <= 1 + CAP_TOLERANCE && beyond.tracked === atCap.tracked && atCap.tracked < atCap.flows },
  });
  return section;
}
