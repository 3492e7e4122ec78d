// 2. The event pipeline at full load: one test run of the tc program on a
// PTB frame, repeated REPEAT times on a thread of its own, writes one event
// per repeat into the ring buffer; how many per second come out the other
// end, and where the rest went.
//
// TypeScript: the real path of `live` — the addon's drain thread, its
// batches, Observer (decode), Session (JSON line, correlator). The observer
// watches no interface: the events come from the test runs.
// C: bench/pmtu-bench.c loads the same skeleton and only counts (the limit).
// Both count the same stream the same way: the bench's PTBs (ingress, from
// PTB_HOP_V4), and everything else the programs report meanwhile (the drop
// of each test-run frame when the kernel frees it, and whatever this machine
// does) as "other".

import { performance } from 'node:perf_hooks';

import { Correlator } from '../correlate/correlator.js';
import type { StreamEvent } from '../contract/event.js';
import { loadAddon, type NativeAddon } from '../observer/addon.js';
import { decodeBatch, RECORD_SIZE } from '../observer/decode.js';
import { Observer } from '../observer/index.js';
import { Session } from '../session.js';
import { KernelSource } from '../sources/kernel.js';
import type { LossCounters, Observer as NativeObserver, ObserverOptions as NativeOptions } from '../../native/index.js';
import { runCPeer } from './c-peer.js';
import { PTB_HOP_V4, ptbFrame } from './frames.js';
import { median, notAvailable, type Section } from './report.js';
import { retryBusy, sleep } from './util.js';

const ROUNDS = 3;
const REPEAT = 2_000_000;
const WARMUP = 200_000;
/** Targets (issue #6). */
const JS_MIN_RATE = 1_000_000;
const JS_MIN_SHARE = 0.5;

export interface PipelineRun {
  generated: number;
  /** The bench's PTB events that reached the consumer (for TypeScript: the correlator). */
  received: number;
  other: number;
  ringbufFull: number;
  queueFull: number;
  elapsedNs: number;
}

function isBenchPtb(ev: StreamEvent): boolean {
  return ev.kind === 'ptb' && ev.dir === 'ingress' && ev.src === PTB_HOP_V4;
}

/**
 * The real addon, except that it lists no interface to attach to, and hands
 * back the native observer it made (to run the tc program) and the first
 * full batch it delivered (for the per-stage costs).
 */
function benchAddon(real: NativeAddon): { addon: NativeAddon; native: () => NativeObserver; batch: () => Buffer | undefined } {
  let made: NativeObserver | undefined;
  let full: Buffer | undefined;
  class Captured extends real.Observer {
    constructor(options?: NativeOptions) {
      super(options);
      made = this;
    }
    override start(onBatch: (records: Buffer) => void): void {
      super.start((records) => {
        if (!full && records.length >= 4096 * RECORD_SIZE) full = records;
        onBatch(records);
      });
    }
  }
  const addon: NativeAddon = { ...real, listLinks: () => [], Observer: Captured };
  return {
    addon,
    native: () => {
      if (!made) throw new Error('the observer was not created');
      return made;
    },
    batch: () => full,
  };
}

/** Where TypeScript's time goes, per event, on a real batch: decode, JSON line, correlator. */
export interface StageCosts {
  decodeNs: number;
  jsonNs: number;
  correlatorNs: number;
}

function stageCosts(batch: Buffer, observer: Observer): StageCosts {
  const time = (fn: () => void, reps: number) => {
    fn(); // once untimed: the JIT's turn
    const t = performance.now();
    for (let i = 0; i < reps; i++) fn();
    return (performance.now() - t) * 1e6 / reps;
  };
  const events = decodeBatch(batch).events;
  const lines = events.map((ev) => observer.json(ev));
  const n = events.length;
  const decodeNs = time(() => decodeBatch(batch), 5) / n;
  return {
    decodeNs,
    // On events decoded afresh: decoding is lazy, and what the JSON line reads
    // first (addresses, flows) is decoded then, not in decodeBatch.
    jsonNs: Math.max(0, time(() => decodeBatch(batch).events.forEach((ev) => observer.json(ev)), 5) / n - decodeNs),
    correlatorNs:
      time(() => {
        const c = new Correlator();
        for (const line of lines) c.push(line);
      }, 3) / n,
  };
}

export async function runTypeScript(repeat: number): Promise<PipelineRun & { stages?: StageCosts }> {
  const { addon, native, batch } = benchAddon(loadAddon());
  const observer = await retryBusy(() => new Observer({ addon, noSignalHandlers: true, rescanMs: 0 }));
  let received = 0;
  let other = 0;
  let decoded = 0;
  let lastAt = 0;
  const session = new Session(new KernelSource(observer), {
    event: (ev) => {
      if (isBenchPtb(ev)) received++;
      else other++;
    },
  });
  // After Session's listener: the batch has been through the correlator.
  observer.on('events', (events) => {
    decoded += events.length;
    lastAt = performance.now();
  });
  const delivered = (base: LossCounters) => observer.losses().delivered - base.delivered;
  /** Until every record the addon handed over went through, and nothing came for a while. */
  const drained = async (base: LossCounters, unknownBase: number) => {
    const deadline = Date.now() + 30_000;
    let seen = -1;
    for (;;) {
      await sleep(150); // the drain thread flushes at least every 100 ms
      const now = delivered(base);
      if (now === seen && now === decoded + observer.losses().unknownRecords - unknownBase) return;
      if (Date.now() > deadline) throw new Error('the observer never caught up');
      seen = now;
    }
  };
  try {
    const frame = ptbFrame();
    let base = observer.losses();
    await native().testRunAsync('ingress', frame, WARMUP); // the JIT's turn
    await drained(base, 0);
    base = observer.losses();
    const unknownBase = base.unknownRecords;
    received = other = decoded = 0;
    const start = performance.now();
    const run = await native().testRunAsync('ingress', frame, repeat);
    if (run.retval !== -1) throw new Error(`the tc program returned ${run.retval}, not TC_ACT_UNSPEC`);
    await drained(base, unknownBase);
    const end = observer.losses();
    const full = batch();
    return {
      ...(full ? { stages: stageCosts(full, observer) } : {}),
      generated: repeat,
      received,
      other,
      ringbufFull: end.ringbufFull - base.ringbufFull,
      queueFull: end.queueFull - base.queueFull,
      elapsedNs: (lastAt - start) * 1e6,
    };
  } finally {
    session.close();
  }
}

export async function runC(repeat: number): Promise<PipelineRun> {
  return retryBusy(() => runCPeer<PipelineRun>(['consume', String(repeat), ptbFrame().toString('hex')]));
}

const rate = (r: PipelineRun) => r.received / (r.elapsedNs / 1e9);
/** Events generated that neither arrived nor were counted lost. Negative: other events were lost too (counted). */
const uncounted = (r: PipelineRun) => r.generated - r.received - r.ringbufFull - r.queueFull;

function sum(runs: PipelineRun[], key: keyof PipelineRun): number {
  return runs.reduce((s, r) => s + r[key], 0);
}

function lossNote(runs: PipelineRun[]): string {
  return `${ROUNDS} runs: ${sum(runs, 'generated')} generated, ${sum(runs, 'received')} received, ${sum(runs, 'ringbufFull')} ring buffer full, ${sum(runs, 'queueFull')} queue full, ${sum(runs, 'other')} other events`;
}

export async function measurePipeline(progress: (msg: string) => void): Promise<Section> {
  const section: Section = {
    id: 'pipeline',
    title: '2. Event pipeline, ring buffer to consumer',
    how: `one test run of ${REPEAT / 1e6}M PTBs on its own thread per run, ${ROUNDS} runs each, alternating, median; rate = PTB events received / time to the last one`,
    figures: [],
  };
  const c: PipelineRun[] = [];
  const js: (PipelineRun & { stages?: StageCosts })[] = [];
  let cWhy: string | undefined;
  let jsWhy: string | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    progress(`pipeline run ${round + 1}/${ROUNDS}`);
    if (!cWhy) {
      try {
        c.push(await runC(REPEAT));
      } catch (e) {
        cWhy = (e as Error).message;
      }
    }
    if (!jsWhy) {
      try {
        js.push(await runTypeScript(REPEAT));
      } catch (e) {
        jsWhy = (e as Error).message;
      }
    }
  }
  const cRate = c.length ? median(c.map(rate)) : null;
  if (cRate === null) section.figures.push(notAvailable('pipeline.c', 'bare C libbpf consumer (the limit)', 'events/s', cWhy ?? 'no run', true));
  else section.figures.push({ id: 'pipeline.c', label: 'bare C libbpf consumer (the limit)', value: cRate, unit: 'events/s', peer: true, note: lossNote(c) });

  const label = 'addon -> TypeScript correlator';
  if (!js.length) {
    section.figures.push(notAvailable('pipeline.js', label, 'events/s', jsWhy ?? 'no run'));
    return section;
  }
  const jsRate = median(js.map(rate));
  section.figures.push({
    id: 'pipeline.js',
    label,
    value: jsRate,
    unit: 'events/s',
    target: { text: `>= ${JS_MIN_RATE / 1e6}M ev/s`, pass: jsRate >= JS_MIN_RATE },
    note: lossNote(js),
  });
  if (cRate !== null) {
    const share = jsRate / cRate;
    section.figures.push({
      id: 'pipeline.share',
      label: 'TypeScript / C consumer',
      value: share,
      unit: 'percent',
      target: { text: `>= ${JS_MIN_SHARE * 100}%`, pass: share >= JS_MIN_SHARE },
    });
  }
  const lostUncounted = js.reduce((s, r) => s + Math.max(0, uncounted(r)), 0);
  section.figures.push({
    id: 'pipeline.lost',
    label: 'TypeScript: lost, counted (ring buffer + queue full)',
    value: sum(js, 'ringbufFull') + sum(js, 'queueFull'),
    unit: 'count',
  });
  section.figures.push({
    id: 'pipeline.uncounted',
    label: 'TypeScript: lost, not counted',
    value: lostUncounted,
    unit: 'count',
    target: { text: '= 0', pass: lostUncounted === 0 },
  });
  const stages = js.flatMap((r) => (r.stages ? [r.stages] : []));
  if (stages.length) {
    const per = (k: keyof StageCosts) => median(stages.map((s) => s[k]));
    for (const [k, label] of [
      ['decodeNs', 'TypeScript per event: decode'],
      ['jsonNs', 'TypeScript per event: JSON line'],
      ['correlatorNs', 'TypeScript per event: correlator'],
    ] as const) {
      section.figures.push({ id: `pipeline.${k.replace('Ns', '')}`, label, value: per(k), unit: 'ns' });
    }
  }
  return section;
}
