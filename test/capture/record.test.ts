// `pmtu-watch record` without root: the command line on the real Observer
// wrapper with a fake addon, writing a real file that the reader and
// `report --json` then read.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { main, type ProgramDeps } from '../../src/cli/main.js';
import { CaptureReader } from '../../src/capture/reader.js';
import type { CaptureRecord } from '../../src/capture/types.js';
import { Observer } from '../../src/observer/index.js';
import { fakeAddon, fakeNameSources, link, type FakeAddon } from '../helpers/fake-addon.js';
import { icmpFragNeeded, ipv4, PROTO } from '../helpers/packets.js';
import { batch, DIR, F, KIND, OVERSIZE_DROP, OWN_NETNS } from '../helpers/records.js';
import type { LossCounters } from '../../native/index.js';

const OWN = OWN_NETNS;
const dir = mkdtempSync(join(tmpdir(), 'pmtu-record-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], deps: ProgramDeps = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'pmtu-watch', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, deps);
  return { code, out, err };
}

const quoted = ipv4({ src: '198.18.0.2', dst: '198.18.3.2', proto: PROTO.tcp, payload: Buffer.alloc(8), df: true, totalLength: 1500 });
const PTB_PACKET = ipv4({ src: '198.18.1.1', dst: '198.18.0.2', proto: PROTO.icmp, payload: icmpFragNeeded(1400, quoted) });

const EVENTS = batch(
  // A packet of the flow itself first: a PTB about a flow never seen makes no verdict.
  {
    kind: KIND.size,
    dir: DIR.egress,
    flags: F.df,
    tsNs: 999_000_000n,
    netns: OWN,
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1500,
    len: 1500,
    outer: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
  },
  {
    kind: KIND.ptb,
    dir: DIR.ingress,
    flags: F.icmpErr,
    tsNs: 1_000_000_000n,
    netns: OWN,
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1400,
    len: PTB_PACKET.length,
    outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', proto: 1, len: PTB_PACKET.length },
    inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
    snap: PTB_PACKET,
  },
  { kind: 99 },
  OVERSIZE_DROP,
);

describe('pmtu-watch record (fake addon)', () => {
  const observers: Observer[] = [];
  afterEach(() => {
    for (const o of observers.splice(0)) o.close();
  });

  /** record on the real Observer with a fake addon: the batch arrives, then the user stops it. */
  function recordDeps(losses: Partial<LossCounters> = {}): { fake: FakeAddon; deps: ProgramDeps } {
    const fake = fakeAddon({ links: { '': [link(1, 'lo', 65536), link(2, 'eth0')] }, inodes: { '': OWN }, dropReasons: ['', '', 'NOT_SPECIFIED'], losses });
    let stop: () => void = () => {};
    const stopRequested = new Promise<void>((r) => (stop = r));
    const deps: ProgramDeps = {
      live: {
        open: (opts) => {
          const obs = new Observer({ ...opts, addon: fake.addon, nameSources: fakeNameSources({}, OWN) });
          observers.push(obs);
          setTimeout(() => {
            // A run that already ended (a failing one) takes no more batches.
            if (obs.running) fake.only().deliver(EVENTS);
            setTimeout(stop, 150);
          }, 20);
          return obs;
        },
        stopRequested,
        statsEveryMs: 60_000,
      },
    };
    return { fake, deps };
  }

  it('writes the header, a start and an end snapshot, every event with its packet, the verdicts, stats and the end; report --json gives the verdicts back', async () => {
    const file = join(dir, 'rec.pmtucap');
    const { fake, deps } = recordDeps();
    const r = await run(['record', '-o', file], deps);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([]);
    expect(r.err[0]).toBe(`pmtu-watch: recording 1 interface(s) to ${file}; Ctrl-C stops`);
    expect(r.err.at(-1)).toMatch(new RegExp(`^pmtu-watch: ${file}: 4 events, 2 flows, 2 in trouble, 0 lost, 0 unmatched ICMP errors; wrote 4 events, \\d+ verdicts, \\d+ bytes \\(\\d+ bytes per event\\)$`));
    expect(fake.only().stopCalls).toBe(1); // detached

    const reader = CaptureReader.open(file);
    expect(reader.header).toMatchObject({
      schema: 'pmtu.v1',
      tool: expect.stringMatching(/^pmtu-watch \d/),
      namespaces: ['host'],
      interfaces: [{ netns: 'host', name: 'eth0', ifindex: 2, mtu: 1500 }],
      selection: { netns: [], allNetns: false, ifaces: [], sizeMin: 0, durationS: 0 },
    });
    const recs: CaptureRecord[] = [...reader.records()];
    reader.close();
    expect(reader.state.ending).toBe('end');

    const events = recs.flatMap((x) => (x.type === 'event' ? [x] : []));
    // The route lookup the PTB prompted is an event of the stream too.
    expect(events.map((e) => e.event.kind)).toEqual(['size', 'ptb', 'drop', 'route']);
    expect(events[1]!.event).toMatchObject({ netns: 'host', iface: 'eth0', dir: 'ingress', src: '198.18.1.1', mtu: 1400, inner: { dst: '198.18.3.2', len: 1500 } });
    expect(events[1]!.snap.equals(PTB_PACKET)).toBe(true);
    expect(events[2]!.snap.length).toBe(0);

    const snaps = recs.flatMap((x) => (x.type === 'snapshot' ? [x.snapshot] : []));
    expect(snaps.map((s) => s.moment)).toEqual(['start', 'end']);
    for (const s of snaps) {
      const host = s.namespaces.find((n) => n.name === 'host')!;
      expect(host.links).toEqual([
        { ifindex: 1, name: 'lo', mtu: 65536, up: true },
        { ifindex: 2, name: 'eth0', mtu: 1500, up: true },
      ]);
      // Sysctls come from the addon, ours as any other namespace's.
      expect(host.sysctls.map((x) => x.name)).toContain('net.ipv4.conf.all.rp_filter');
    }
    // The PTB reached this host: the end snapshot looked up the route to what it was about.
    expect(snaps[1]!.namespaces[0]!.lookups).toEqual([{ dst: '198.18.3.2', found: false, mtu: 0, expires: 0, dev: '' }]);

    const stats = recs.flatMap((x) => (x.type === 'stats' ? [x.stats] : []));
    expect(stats.length).toBeGreaterThanOrEqual(2);
    expect(stats.at(-1)!.losses.unknownRecords).toBe(1);
    expect(recs.at(-1)).toMatchObject({ type: 'end', end: { reason: 'signal', events: 4 } });

    const recorded = recs.flatMap((x) => (x.type === 'verdict' ? [JSON.stringify(x.verdict)] : []));
    expect(recorded.length).toBeGreaterThan(0);
    const report = await run(['report', '--json', file]);
    expect(report.code).toBe(0);
    expect(report.out).toEqual(recorded);
    expect(report.err).toEqual([`pmtu-watch: ${file}: read ${recs.length + 1} records, ${reader.state.offset} bytes to the end of the recording`]);
  });

  it('losses: in the summary line, in the stats records, and in what report shows', async () => {
    const file = join(dir, 'lossy.pmtucap');
    const { deps } = recordDeps({ ringbufFull: 7, queueFull: 5 });
    const r = await run(['record', '-o', file], deps);
    expect(r.code).toBe(0);
    expect(r.err.at(-1)).toMatch(/, 12 lost, 0 unmatched ICMP errors; wrote 4 events, /);
    const reader = CaptureReader.open(file);
    const stats = [...reader.records()].flatMap((x) => (x.type === 'stats' ? [x.stats] : []));
    reader.close();
    expect(stats.at(-1)!.losses).toMatchObject({ ringbufFull: 7, queueFull: 5 });
    const report = await run(['report', file]);
    expect(report.out.join('\n')).toContain('lost while recording: 7 ring buffer full, 5 queue full');
  });

  it('a file it cannot create: exit 1, one line, the hooks detached', async () => {
    const { fake, deps } = recordDeps();
    const r = await run(['record', '-o', join(dir, 'no-such-dir', 'x.pmtucap')], deps);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([expect.stringMatching(/^pmtu-watch: cannot create .*no-such-dir\/x\.pmtucap: ENOENT.* \(check the directory exists and is writable\)$/)]);
    expect(fake.only().stopCalls).toBe(1);
  });

  it('usage: -o is required, --netns and --all-netns conflict, --duration is positive', async () => {
    const noOpen: ProgramDeps = {
      live: {
        open: () => {
          throw new Error('open() should not have been called');
        },
      },
    };
    for (const [args, pattern] of [
      [['record'], /required option '-o, --output <file>' not specified/],
      [['record', '-o', 'x', '--netns', 'a', '--all-netns'], /--all-netns.*cannot be used with.*--netns/],
      [['record', '-o', 'x', '--duration', '0'], /--duration must be a positive number/],
      [['record', '-o', 'x', '--size-min', '1.5'], /--size-min must be a positive integer/],
      [['replay', 'x', '--speed', 'fast'], /--speed must be a non-negative number/],
      [['export', 'x'], /required option '--pcapng <out>' not specified/],
      [['report'], /missing required argument 'file'/],
    ] as const) {
      const r = await run([...args], noOpen);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(pattern);
      expect(existsSync('x')).toBe(false);
    }
  });

  it('--help lists the capture commands and what each takes', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['record [options]', 'report [options] <file>', 'replay [options] <file>', 'export [options] <file>']) expect(help.out.join('\n')).toContain(`  ${c}`);
    const opts = async (cmd: string) => [...(await run([cmd, '--help'])).out.join('\n').matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);
    expect(await opts('record')).toEqual(['--output', '--duration', '--netns', '--all-netns', '--iface', '--size-min', '--every-flow', '--help']);
    expect(await opts('report')).toEqual(['--json', '--help']);
    expect(await opts('replay')).toEqual(['--speed', '--json', '--events', '--serve', '--token', '--help']);
    expect(await opts('export')).toEqual(['--pcapng', '--help']);
  });
});
