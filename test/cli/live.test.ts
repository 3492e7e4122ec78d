// live as a composition: a reader of standard output that stops reading
// stalls neither the session nor /metrics (lines dropped, counted, said), and
// live and replay of the same events print the same settled verdicts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import type { CorrelatorEvent } from '../../src/contract/event.js';
import { main, type ProgramDeps } from '../../src/cli/main.js';
import { runReplay } from '../../src/cli/replay.js';
import type { Io } from '../../src/cli/io.js';
import { Observer } from '../../src/observer/index.js';
import { LineOutput } from '../../src/sinks/output.js';
import { buildCapture } from '../helpers/capture.js';
import { fakeAddon, fakeNameSources, link } from '../helpers/fake-addon.js';
import { batch, DIR, F, KIND, OVERSIZE_DROP, OWN_NETNS, PTB_ON_ETH0, type RecordSpec } from '../helpers/records.js';
import { StalledReader } from '../helpers/stdout.js';

const OWN = OWN_NETNS;
const dir = mkdtempSync(join(tmpdir(), 'pmtu-live-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const observers: Observer[] = [];
afterEach(() => {
  for (const o of observers.splice(0)) o.close();
});

function size(sport: number, tsNs: bigint): RecordSpec {
  return {
    kind: KIND.size,
    dir: DIR.egress,
    flags: F.df,
    tsNs,
    netns: OWN,
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1500,
    len: 1500,
    outer: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport, dport: 443, proto: 6, len: 1500 },
  };
}

/** A flow told of a smaller MTU that its host never applies, a bridge port dropping jumbo frames, and a healthy flow. */
const TROUBLE = batch(
  size(40000, 999_000_000n),
  PTB_ON_ETH0,
  OVERSIZE_DROP,
  size(41000, 1_001_000_000n), // healthy: its verdict stays `ok`
);

/** deps whose observer (real wrapper, fake addon) gets `batches`, one every `everyMs` from 20 ms on. */
function liveDeps(batches: Buffer[], { everyMs = 5, statsEveryMs = 60_000 } = {}): ProgramDeps {
  const fake = fakeAddon({ links: { '': [link(1, 'lo', 65536), link(2, 'eth0')] }, inodes: { '': OWN }, dropReasons: ['', '', 'NOT_SPECIFIED'] });
  return {
    live: {
      open: (opts) => {
        const obs = new Observer({ ...opts, addon: fake.addon, nameSources: fakeNameSources({}, OWN) });
        observers.push(obs);
        batches.forEach((b, i) => setTimeout(() => fake.only().deliver(b), 20 + i * everyMs));
        return obs;
      },
      stopRequested: new Promise<void>(() => {}),
      statsEveryMs,
    },
  };
}

function capture(): { out: string[]; err: string[]; io: Io } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

/** Verdict lines (and their note and fix lines) without their clock, which depends on when the observer started. */
function verdictLines(out: string[]): string[] {
  return out.map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''));
}

describe('live with a reader of standard output that stopped reading', () => {
  it('drops lines beyond the bound and counts them; the session takes every event, /metrics answers, the run ends on time', async () => {
    const flows = 200;
    const batches = Array.from({ length: 20 }, (_, b) => batch(...Array.from({ length: flows / 20 }, (_, i) => size(20000 + b * 100 + i, 2_000_000_000n + BigInt(b * 100 + i) * 1000n))));
    const reader = new StalledReader();
    const o = capture();
    const io: Io = { ...o.io, stdout: new LineOutput(reader, 2048) };
    const started = Date.now();
    const run = main(['node', 'pmtu-watch', 'live', '--json', '--duration', '0.6', '--serve', '127.0.0.1:0'], io, liveDeps(batches, { statsEveryMs: 100 }));

    // While stdout is stuck, /metrics still answers, and says what the output dropped.
    let metrics = '';
    for (let i = 0; i < 100 && !/pmtu_lost_events\{where="output"\} [1-9]/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 20));
      const url = o.err.map((l) => /feed on ws:\/\/(\S+)\/feed/.exec(l)?.[1]).find(Boolean);
      if (url) metrics = await (await fetch(`http://${url}/metrics`)).text();
    }
    expect(metrics).toMatch(/pmtu_lost_events\{where="output"\} [1-9]\d*/);

    // Once every batch is in (by 20 + 19 * 5 ms), the session has taken all of them.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 300 - Date.now())));
    const url = o.err.map((l) => /feed on ws:\/\/(\S+)\/feed/.exec(l)?.[1]).find(Boolean)!;
    metrics = await (await fetch(`http://${url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`pmtu_events_total\\{kind="size"\\} ${flows}\\n`));
    expect(metrics).toMatch(new RegExp(`pmtu_verdicts_total\\{verdict="ok",cause=""\\} ${flows}\\n`));

    expect(await run).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(reader.writableLength).toBeLessThanOrEqual(2048 + 512); // bounded: one line past the mark at most
    const dropped = (io.stdout as LineOutput).dropped;
    expect(dropped).toBeGreaterThan(100);
    // Said while running (once per stats period at most) and at the end.
    const warnings = o.err.filter((l) => l.includes('output lines dropped'));
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.at(-1)).toBe(`pmtu-watch: warning: ${dropped} output lines dropped in all: standard output's reader fell behind`);
    expect(o.out).toEqual([]); // nothing went around the bounded output

    // When the reader reads again it gets whole lines; what it missed is what was counted.
    reader.release();
    const lines = reader.taken.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; losses?: { sinkBehind: number } });
    expect(lines[0]).toMatchObject({ type: 'stats', losses: { sinkBehind: 0 } });
    expect(lines.length + dropped).toBeGreaterThanOrEqual(1 + flows * 2 + 1); // the first stats, events and verdicts, the last stats
  });
});

describe('live and replay settle alike', () => {
  it('the same events print the same verdict lines: troubled flows once settled, healthy flows not at all', async () => {
    const json = capture();
    expect(await main(['node', 'pmtu-watch', 'live', '--json', '--duration', '0.3'], json.io, liveDeps([TROUBLE]))).toBe(0);
    const events = json.out.map((l) => JSON.parse(l) as CorrelatorEvent & { type: string }).filter((l) => l.type === 'event');
    expect(events.map((e) => e.kind)).toEqual(['size', 'ptb', 'drop', 'size', 'route']);

    const live = capture();
    expect(await main(['node', 'pmtu-watch', 'live', '--duration', '0.5'], live.io, liveDeps([TROUBLE]))).toBe(0);

    const file = join(dir, 'trouble.pmtucap');
    writeFileSync(file, buildCapture(events).bytes);
    const unpaced = capture();
    expect(await runReplay(file, { speed: 0 }, unpaced.io)).toBe(0);
    const paced = capture();
    expect(await runReplay(file, { speed: 1 }, paced.io)).toBe(0);

    expect(verdictLines(live.out).filter((l) => /^[A-Z]/.test(l))).toEqual([
      expect.stringMatching(/^PTB-DROPPED not-applied tcp 198\.18\.0\.2:40000 -> 198\.18\.3\.2:443 /),
      expect.stringMatching(/^LOCAL-BOTTLENECK layer2 /),
    ]);
    expect(verdictLines(unpaced.out)).toEqual(verdictLines(live.out));
    expect(verdictLines(paced.out)).toEqual(verdictLines(live.out));
    expect(unpaced.out.some((l) => / OK /.test(l))).toBe(false);
  });
});
