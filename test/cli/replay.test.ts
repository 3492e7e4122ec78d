// replay as a composition: its /metrics has live's loss gauges (from the
// stats the capture recorded), and unpaced it waits for a slow reader of
// standard output instead of dropping lines (a file can wait; the kernel cannot).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, describe, expect, it } from 'vitest';

import { runReplay } from '../../src/cli/replay.js';
import type { Io } from '../../src/cli/io.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { Correlator } from '../../src/correlate/correlator.js';
import { LineOutput } from '../../src/sinks/output.js';
import { buildCapture, HEADER, memorySink, statsAt, stream } from '../helpers/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-replay-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { out: string[]; err: string[]; io: Io } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('replay --serve', () => {
  it("/metrics has the loss gauges live's has, from the stats the capture recorded", async () => {
    const events = stream('rp-filter');
    const sink = memorySink();
    const w = new CaptureWriter(sink, HEADER);
    w.stats(statsAt(0), HEADER.startTime);
    const c = new Correlator();
    for (const ev of events) {
      w.event(ev);
      for (const v of c.push(ev)) w.verdict(v);
    }
    const lossy = statsAt(events.length);
    lossy.losses = { ...lossy.losses, ringbufFull: 7, queueFull: 5, flowTableFull: 2 };
    w.stats(lossy, events.at(-1)!.ts);
    w.end('duration', events.at(-1)!.ts);
    const file = join(dir, 'lossy.pmtucap');
    writeFileSync(file, sink.bytes());

    const o = capture();
    let stop!: () => void;
    const stopRequested = new Promise<void>((resolve) => (stop = resolve));
    const done = runReplay(file, { speed: 0, serve: '127.0.0.1:0' }, o.io, { stopRequested });
    for (let i = 0; i < 200 && !o.err.some((l) => l.includes('keeps serving')); i++) await new Promise((r) => setTimeout(r, 10));
    const url = o.err.map((l) => /feed on ws:\/\/(\S+)\/feed/.exec(l)?.[1]).find(Boolean);
    const metrics = await (await fetch(`http://${url}/metrics`)).text();
    stop();
    expect(await done).toBe(0);
    expect(metrics).toContain('pmtu_lost_events{where="ringbuf"} 7');
    expect(metrics).toContain('pmtu_lost_events{where="queue"} 5');
    expect(metrics).toContain('pmtu_lost_events{where="flow_table"} 2');
    expect(metrics).toContain('pmtu_lost_events{where="output"} 0');
    expect(metrics).toContain(`pmtu_flows ${c.stats().flows}`);
    expect(metrics).toMatch(/pmtu_unmatched_icmp_errors \d+/);
    // And the summary says the recorded losses, as live's does.
    expect(o.err).toContainEqual(expect.stringMatching(/: \d+ events, \d+ flows, \d+ in trouble, 12 lost, \d+ unmatched ICMP errors; read /));
  });
});

/** A reader that takes a chunk every few milliseconds: slow, but reading. */
class SlowReader extends Writable {
  text = '';
  constructor() {
    super({ highWaterMark: 512, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, done: () => void): void {
    setTimeout(() => {
      this.text += chunk;
      done();
    }, 1);
  }
}

describe('replay --speed 0 to a slow reader', () => {
  it('waits for it: every line arrives, none dropped', async () => {
    const built = buildCapture(stream('router-bottleneck'));
    const file = join(dir, 'slow.pmtucap');
    writeFileSync(file, built.bytes);
    const reader = new SlowReader();
    const stdout = new LineOutput(reader, 4096);
    const o = capture();
    expect(await runReplay(file, { json: true, speed: 0 }, { ...o.io, stdout })).toBe(0);
    for (let i = 0; i < 500 && reader.writableLength > 0; i++) await new Promise((r) => setTimeout(r, 5));
    const lines = reader.text.split('\n').filter(Boolean);
    expect(stdout.dropped).toBe(0);
    expect(lines).toHaveLength(built.events.length + built.verdicts.length + 2); // and the two recorded stats lines
    expect(o.err.some((l) => l.includes('dropped'))).toBe(false);
  });
});
