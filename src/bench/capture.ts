// 5. Captures: how fast `record` writes events (with their packets, and the
// verdicts they change, as the recorder does) and `report` reads them back
// through the correlator, and what an event costs on disk.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { hostname, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { toolVersion } from '../sinks/capture-file.js';
import { digest } from '../sinks/digest.js';
import { SCHEMA } from '../contract/proto.js';
import { CaptureWriter } from '../capture/writer.js';
import { Correlator } from '../correlate/correlator.js';
import type { EventJson } from '../contract/event.js';
import { flowEvent, type BenchKind } from './events.js';
import { benchFrames } from './frames.js';
import type { Section } from './report.js';

const EVENTS = 50_000;
const FLOWS = 1000;
/** Per flow, in turn: its SYN, its largest DF packet, a router's frag-needed. */
const KINDS: BenchKind[] = ['syn', 'size', 'ptb'];
const SNAP_LEN = 256; // PMTU_SNAP_LEN: what the kernel keeps from the IP header on (128 before 0.4)

export function measureCapture(progress: (msg: string) => void): Section {
  const section: Section = {
    id: 'capture',
    title: '5. Captures, record and report',
    how: `${EVENTS / 1000}k events of ${FLOWS} flows (SYN, size, frag-needed in turn), each with its ${SNAP_LEN}-byte packet; record = write + correlator + verdicts, report = read + correlator`,
    figures: [],
  };
  const frames = new Map(benchFrames().map((f) => [f.id, f.frame.subarray(14, 14 + SNAP_LEN)]));
  const snaps: Record<BenchKind, Buffer> = { syn: frames.get('syn4')!, size: frames.get('tcp4')!, ptb: frames.get('ptb4')! };
  const events: { ev: EventJson; snap: Buffer }[] = [];
  let ts = Date.now();
  for (let n = 0; n < EVENTS; n++) {
    const kind = KINDS[Math.floor(n / FLOWS) % KINDS.length]!;
    events.push({ ev: flowEvent(n % FLOWS, kind, (ts += 0.01)), snap: snaps[kind] });
  }

  const dir = mkdtempSync(join(tmpdir(), 'pmtu-bench-'));
  try {
    const file = join(dir, 'bench.pmtucap');
    progress('captures: record');
    const t0 = performance.now();
    const writer = CaptureWriter.create(file, {
      schema: SCHEMA,
      tool: toolVersion(),
      host: hostname(),
      kernel: release(),
      startTime: Date.now(),
      namespaces: ['a'],
      interfaces: [{ netns: 'a', name: 'va', ifindex: 2, mtu: 1500 }],
      selection: { netns: ['a'], allNetns: false, ifaces: [], sizeMin: 0, durationS: 0 },
    });
    const correlator = new Correlator();
    for (const { ev, snap } of events) {
      writer.event(ev, snap);
      for (const v of correlator.push(ev)) writer.verdict(v);
    }
    writer.end('duration');
    const recordS = (performance.now() - t0) / 1000;
    if (writer.error) throw writer.error;
    const bytes = statSync(file).size;

    progress('captures: report');
    const t1 = performance.now();
    const d = digest(file);
    const reportS = (performance.now() - t1) / 1000;
    if (d.failure) throw d.failure;

    section.figures.push(
      { id: 'capture.record', label: 'record: events/s', value: EVENTS / recordS, unit: 'events/s' },
      { id: 'capture.report', label: 'report: events/s', value: d.events / reportS, unit: 'events/s' },
      {
        id: 'capture.bytes',
        label: 'bytes per event on disk',
        value: bytes / EVENTS,
        unit: 'bytes',
        note: `${(bytes / 1e6).toFixed(1)} MB for ${EVENTS} events and ${writer.verdicts} verdicts, all records included`,
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return section;
}
