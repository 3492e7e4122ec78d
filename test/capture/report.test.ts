// report and replay on captures of the recorded streams: the verdicts live
// gave, the snapshots, where the reader stopped, and replay's pacing.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { Correlator } from '../../src/correlate/correlator.js';
import { verdictText } from '../../src/contract/text.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { runReplay } from '../../src/cli/replay.js';
import { connectFeed } from '../../src/feed/client.js';
import { runReport } from '../../src/cli/report.js';
import { main } from '../../src/cli/main.js';
import { buildCapture, stream } from '../helpers/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-report-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(name: string, bytes: Buffer): string {
  const path = join(dir, `${name}.pmtucap`);
  writeFileSync(path, bytes);
  return path;
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

describe('pmtu-watch report', () => {
  const built = buildCapture(stream('rp-filter'));
  const file = capture('rp-filter', built.bytes);

  it('--json: exactly the verdict lines live printed, and where it stopped on stderr', () => {
    const o = io();
    expect(runReport(file, { json: true }, o.io)).toBe(0);
    expect(o.out).toEqual(built.verdicts.map((v) => JSON.stringify(v)));
    expect(o.err).toEqual([`pmtu-watch: ${file}: read ${built.verdicts.length + built.events.length + 7} records, ${built.bytes.length} bytes to the end of the recording`]);
  });

  it('readable: the recording, the start snapshot, the verdicts, what changed by the end, where it stopped', () => {
    const o = io();
    expect(runReport(file, {}, o.io)).toBe(0);
    const text = o.out.join('\n');
    expect(text).toContain(`capture ${file}`);
    expect(text).toContain('recorded by pmtu-watch test on testhost (kernel 6.18.0 #1 SMP), from 2026-11-23T');
    expect(text).toContain('watched 2 interface(s): c/to-r1 9000, r1/to-c 9000');
    expect(text).toMatch(new RegExp(`${built.events.length} events \\(size \\d+, ptb-sent \\d+, ptb \\d+, drop \\d+`));
    expect(text).toContain('    links (mtu): lo 65536, to-r1 9000');
    expect(text).toContain('    rp_filter: all 1 (an interface');
    expect(text).toContain('    sysctls: tcp_mtu_probing 0');
    expect(text).toContain('    route: 198.18.0.0/15 via 198.18.1.1 dev to-r1');
    expect(text).toMatch(/verdicts: \d+ flow\(s\), \d+ in trouble/);
    expect(text).toMatch(/PTB-DROPPED rp_filter tcp 198\.18\.1\.2:\d+ -> 198\.18\.3\.2:5201 at c\/to-r1 hop 198\.19\.0\.1 mtu 1500/);
    expect(text).toContain('end snapshot (');
    expect(text).toContain('    + cached 198.18.3.2 via 198.18.1.1 dev to-r1 mtu 1500 expires 590s');
    expect(text).toContain('    route get 198.18.3.2: dev to-r1, no cached path mtu');
    expect(text).toMatch(/^notes while recording:\n {2}\d\d:\d\d:\d\d\.\d{3} a warning$/m);
    expect(o.out.at(-1)).toMatch(/^read: read \d+ records, \d+ bytes to the end of the recording$/);
    expect(o.err).toEqual([]);
  });

  it('a capture cut off mid-record: the verdicts of what was whole, and where it stopped', () => {
    const cut = capture('cut', built.bytes.subarray(0, Math.floor(built.bytes.length / 2)));
    const o = io();
    expect(runReport(cut, { json: true }, o.io)).toBe(0);
    expect(o.out.length).toBeGreaterThan(0);
    expect(built.verdicts.map((v) => JSON.stringify(v)).slice(0, o.out.length)).toEqual(o.out);
    expect(o.err.at(-1)).toMatch(/cut off mid-record: read \d+ records, \d+ bytes, up to the last whole record; \d+ bytes after it are part of one/);
    const readable = io();
    expect(runReport(cut, {}, readable.io)).toBe(0);
    expect(readable.out.join('\n')).toContain('end snapshot: none in the capture (the recording did not finish)');
  });

  it('a corrupt capture: what came before, then one error line and exit 1', () => {
    const bad = Buffer.from(built.bytes);
    const at = Math.floor(bad.length * 0.7);
    bad[at] = bad[at]! ^ 0xff;
    const o = io();
    expect(runReport(capture('bad', bad), {}, o.io)).toBe(1);
    expect(o.out[0]).toMatch(/^capture /);
    expect(o.err).toHaveLength(1);
    expect(o.err[0]).toMatch(/^pmtu-watch: .*bad\.pmtucap: corrupt at byte \d+ \(record \d+\): checksum mismatch \(the \d+ records before it are whole; the file was damaged after it was written\)$/);
  });

  it('not a capture, or missing: exit 1 with one line, through the command line too', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const cli = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(await main(['node', 'pmtu-watch', 'report', join(dir, 'nope.pmtucap')], cli)).toBe(1);
    expect(await main(['node', 'pmtu-watch', 'report', capture('json', Buffer.from('{"type":"verdict"}\n'))], cli)).toBe(1);
    expect(await main(['node', 'pmtu-watch', 'replay', '--speed', '0', capture('v2', Buffer.concat([built.bytes.subarray(0, 12), Buffer.from([2, 0, 0, 0])]))], cli)).toBe(1);
    expect(await main(['node', 'pmtu-watch', 'export', join(dir, 'nope.pmtucap'), '--pcapng', join(dir, 'x.pcapng')], cli)).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([
      expect.stringMatching(/^pmtu-watch: cannot open .*nope\.pmtucap: ENOENT \(is the path right\?\)$/),
      expect.stringMatching(/^pmtu-watch: .*json\.pmtucap: not a pmtu-watch capture \(no capture magic at the start\) \(record one with pmtu-watch record -o FILE\)$/),
      expect.stringMatching(/^pmtu-watch: .*v2\.pmtucap: capture format 2 is newer than this pmtu-watch reads \(1\) \(read it with a newer pmtu-watch\)$/),
      expect.stringMatching(/^pmtu-watch: cannot open .*nope\.pmtucap: ENOENT/),
    ]);
  });
});

describe('pmtu-watch replay', () => {
  const built = buildCapture(stream('router-bottleneck'));
  const file = capture('router-bottleneck', built.bytes);

  it('--json --speed 0: the events, the verdict changes right after the event that made them, and the recorded stats', async () => {
    const o = io();
    expect(await runReplay(file, { json: true, speed: 0 }, o.io)).toBe(0);
    const types = o.out.map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types.filter((t) => t === 'stats')).toHaveLength(2);
    const lines = o.out.filter((l) => !l.startsWith('{"type":"stats"'));
    // Each event's line, then the verdicts it changed (as live prints them).
    const expected: string[] = [];
    const corr = new Correlator();
    for (const ev of built.events) expected.push(JSON.stringify(ev), ...corr.push(ev).map((v) => JSON.stringify(v)));
    expect(lines).toEqual(expected);
    expect(lines.filter((l) => l.startsWith('{"type":"verdict"'))).toEqual(built.verdicts.map((v) => JSON.stringify(v)));
    expect(o.err).toEqual([expect.stringMatching(new RegExp(`^pmtu-watch: replayed .*router-bottleneck\\.pmtucap: ${built.events.length} events, 3 flows, \\d+ in trouble, 0 lost, 0 unmatched ICMP errors; read \\d+ records`))]);
  });

  it('--serve: a feed client gets the replayed verdicts, and after the end the final ones as its snapshot', async () => {
    const o = io();
    let stop!: () => void;
    const stopRequested = new Promise<void>((resolve) => (stop = resolve));
    const done = runReplay(file, { json: true, speed: 0, serve: '127.0.0.1:0' }, o.io, { stopRequested });
    const url = await (async () => {
      for (let i = 0; i < 200; i++) {
        const m = o.err.map((l) => /feed on (ws:\/\/\S+\/feed)/.exec(l)?.[1]).find(Boolean);
        if (m) return m;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('no feed line');
    })();
    const feed = connectFeed({ url, filter: { verdictsOnly: true } });
    const snap = await new Promise<VerdictJson[]>((resolve) => feed.on('snapshot', resolve));
    const c = new Correlator();
    for (const ev of built.events) c.push(ev);
    expect(snap.map((v) => [v.verdict, v.flow])).toEqual(c.verdicts().map((v) => [v.verdict, v.flow]));
    feed.close();
    stop();
    expect(await done).toBe(0);
    expect(o.err).toContain('pmtu-watch: the feed keeps serving the final verdicts; Ctrl-C stops');
  });

  it('plain: each verdict once it has held, as live prints them', async () => {
    const o = io();
    expect(await runReplay(file, { speed: 0 }, o.io)).toBe(0);
    const text = o.out.join('\n');
    expect(text).toMatch(/PTB-HONORED/);
    // Never a verdict that was replaced within 250 ms of capture time.
    for (const line of o.out.filter((l) => /^\d\d:/.test(l))) expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} [A-Z-]+ /);
    const finals = built.verdicts.filter((v, i) => !built.verdicts.slice(i + 1).some((w) => JSON.stringify(w.flow) === JSON.stringify(v.flow) && w.ts - v.ts < 250));
    for (const v of finals) expect(text).toContain(verdictText(v).split('\n')[0]);
  });

  it('--speed paces by the events\' own time: the waits add up to the capture\'s span divided by speed', async () => {
    let clock = 1000;
    const waits: number[] = [];
    const o = io();
    const deps = { now: () => clock, sleep: async (ms: number) => void (waits.push(ms), (clock += ms)) };
    expect(await runReplay(file, { speed: 4, json: true }, o.io, deps)).toBe(0);
    const span = built.events.at(-1)!.ts - built.events[0]!.ts;
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(span / 4 - 1);
    expect(total).toBeLessThanOrEqual(span / 4 + 1);
  });

  it('stops when asked, mid-way', async () => {
    let stop: () => void = () => {};
    const stopRequested = new Promise<void>((r) => (stop = r));
    let sleeps = 0;
    const o = io();
    const deps = {
      stopRequested,
      sleep: async () => {
        if (++sleeps === 3) stop();
        await new Promise((r) => setTimeout(r, 1));
      },
    };
    expect(await runReplay(file, { speed: 1, json: true }, o.io, deps)).toBe(0);
    const events = o.out.filter((l) => l.startsWith('{"type":"event"')).length;
    expect(events).toBeGreaterThan(0);
    expect(events).toBeLessThan(built.events.length);
  });
});
