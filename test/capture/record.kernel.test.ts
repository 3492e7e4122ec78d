// End to end: `pmtu-watch record` (the built bin, a child process) records
// the rp_filter black hole in namespaces this test builds while real traffic
// crosses them; then `report --json` gives the verdicts the recording run
// gave, `report` shows the incident bundle, `export --pcapng` gives a file
// tshark decodes, and a recorder killed with -9 leaves a capture that reads.
// Traffic stays between the lab's own namespaces (198.18.0.0/15, 198.19.0.0/16).

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

import { CaptureReader } from '../../src/capture/reader.js';
import type { CaptureRecord } from '../../src/capture/types.js';
import { NetLab, reapStale } from '../../src/lab/netlab.js';
import { routedPath, type RoutedPath } from '../../src/lab/topologies.js';
import { pingDf, tcpTransfer, waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { BIN, observerAttached } from '../helpers/live.js';

interface Ran {
  code: number | null;
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function pmtuWatch(args: string[], timeoutMs = 60_000): Promise<Ran> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

function tshark(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`tshark: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

function readCapture(file: string): { reader: CaptureReader; records: CaptureRecord[] } {
  const reader = CaptureReader.open(file);
  const records = [...reader.records()];
  reader.close();
  return { reader, records };
}

/**
 * `record` watching every namespace of the path, started and attached before
 * drive() runs, stopped with `signal` after it. Bounded: --duration too.
 */
async function record(lab: NetLab, path: RoutedPath, out: string, drive: () => Promise<void>, signal: NodeJS.Signals = 'SIGINT'): Promise<Ran> {
  const netns = Object.values(path.ns).flatMap((ns) => ['--netns', ns]);
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'record', '-o', out, '--duration', '40', ...netns], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  try {
    await waitFor(() => observerAttached(lab, path.ns.c, path.client.ifname), 15_000);
    await drive();
    await new Promise((r) => setTimeout(r, 700)); // the route lookups after the last PTBs
  } finally {
    if (child.exitCode === null) child.kill(signal);
  }
  const [code, sig] = (await exited) as [number | null, NodeJS.Signals | null];
  return { code, signal: sig, stdout, stderr, ms: performance.now() - t0 };
}

kernelDescribe(
  'pmtu-watch record / report / export on real traffic',
  () => {
    let lab: NetLab | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'pmtu-capture-kernel-'));
    beforeAll(async () => {
      await reapStale();
    });
    afterEach(async () => {
      await lab?.teardown();
      lab = undefined;
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('records the rp_filter black hole; report --json gives the verdicts the recording gave; report shows the bundle; tshark decodes the PTB', async () => {
      lab = await NetLab.create('caprec');
      const path = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, ipv6: false });
      const { c, s } = path.ns;
      const out = join(dir, 'rpf.pmtucap');
      const rec = await record(lab, path, out, async () => {
        const ping = await pingDf(lab!, c, path.server.v4, { size: 4000, count: 3 });
        expect(ping.received).toBe(0); // the black hole is real
        await tcpTransfer(lab!, { serverNs: s, clientNs: c, serverAddr: path.server.v4, seconds: 1 });
      });
      expect(rec.code, rec.stderr).toBe(0);
      expect(rec.stdout).toBe('');
      expect(rec.stderr).toMatch(new RegExp(`recording \\d+ interface\\(s\\) to ${out} for 40 s`));
      expect(rec.stderr).toMatch(/: \d+ events, \d+ flows, \d+ in trouble, 0 lost, \d+ unmatched ICMP errors; wrote /);
      const summary = /wrote (\d+) events, (\d+) verdicts, (\d+) bytes \((\d+) bytes per event\)/.exec(rec.stderr);
      expect(summary, rec.stderr).not.toBeNull();
      const [events, verdictCount, bytes, perEvent] = summary!.slice(1, 5).map(Number) as [number, number, number, number];
      expect(statSync(out).size).toBe(bytes);

      // The recording: whole, and what it holds.
      const { reader, records } = readCapture(out);
      expect(reader.state.ending).toBe('end');
      expect(reader.header.interfaces).toContainEqual({ netns: c, name: path.client.ifname, ifindex: expect.any(Number), mtu: 9000 });
      const evs = records.flatMap((r) => (r.type === 'event' ? [r] : []));
      expect(evs).toHaveLength(events);
      const withPacket = evs.filter((e) => e.snap.length > 0).length;
      const recorded = records.flatMap((r) => (r.type === 'verdict' ? [JSON.stringify(r.verdict)] : []));
      expect(recorded).toHaveLength(verdictCount);
      const snaps = records.flatMap((r) => (r.type === 'snapshot' ? [r.snapshot] : []));
      expect(snaps.map((x) => x.moment)).toEqual(['start', 'end']);
      const cAtStart = snaps[0]!.namespaces.find((n) => n.name === c)!;
      expect(cAtStart.links).toContainEqual({ ifindex: expect.any(Number), name: path.client.ifname, mtu: 9000, up: true });
      expect(cAtStart.sysctls).toContainEqual({ name: 'net.ipv4.conf.all.rp_filter', value: '1' });
      expect(cAtStart.sysctls).toContainEqual({ name: `net.ipv4.conf.${path.client.ifname}.rp_filter`, value: '1' });
      expect(cAtStart.sysctls.map((x) => x.name)).toContain('net.ipv4.tcp_mtu_probing');
      expect(cAtStart.problems).toEqual([]);
      expect(snaps[0]!.namespaces.find((n) => n.name === path.ns.r1)!.links).toContainEqual({ ifindex: expect.any(Number), name: 'to-r2', mtu: 1500, up: true });
      // rp_filter ate the PTB: at the end, c still has no cached MTU for s.
      const cAtEnd = snaps[1]!.namespaces.find((n) => n.name === c)!;
      expect(cAtEnd.lookups).toContainEqual({ dst: path.server.v4, found: true, mtu: 0, expires: 0, dev: path.client.ifname });

      // report --json: the verdict lines the recording run gave, exactly.
      const report = await pmtuWatch(['report', '--json', out]);
      expect(report.code, report.stderr).toBe(0);
      const lines = report.stdout.trim().split('\n');
      expect(lines).toEqual(recorded);
      const verdicts = lines.map((l) => JSON.parse(l) as { verdict: string; cause: string | null; mtu: number | null; where: { netns: string; iface: string; hop: string } });
      expect(verdicts.find((v) => v.verdict === 'ptb-dropped')).toMatchObject({ cause: 'rp_filter', mtu: 1500, where: { netns: c, iface: path.client.ifname, hop: path.mgmt!.router.v4 } });
      expect(report.stderr).toMatch(/read \d+ records, \d+ bytes to the end of the recording/);

      // The readable report: the bundle and the verdict as a person reads it.
      const readable = await pmtuWatch(['report', out]);
      expect(readable.code, readable.stderr).toBe(0);
      expect(readable.stdout).toContain(`start snapshot (`);
      expect(readable.stdout).toMatch(new RegExp(`rp_filter: all 1, default \\d, lo \\d, ${path.client.ifname} 1`));
      expect(readable.stdout).toMatch(/PTB-DROPPED rp_filter (icmp|tcp) 198\.18\.1\.2/);
      expect(readable.stdout).toContain(`route get ${path.server.v4}: dev ${path.client.ifname}, no cached path mtu`);

      // export: tshark decodes the PTB as ICMP type 3 code 4 with MTU 1500.
      const pcap = join(dir, 'rpf.pcapng');
      const exp = await pmtuWatch(['export', out, '--pcapng', pcap]);
      expect(exp.code, exp.stderr).toBe(0);
      expect(exp.stderr).toMatch(new RegExp(`${withPacket} packets on \\d+ interface\\(s\\)`));
      const rows = (
        await tshark(['-r', pcap, '-Y', 'icmp.type == 3 && icmp.code == 4', '-T', 'fields', '-E', 'occurrence=f', '-e', 'frame.interface_name', '-e', 'ip.src', '-e', 'icmp.type', '-e', 'icmp.code', '-e', 'icmp.mtu', '-e', 'frame.comment'])
      )
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      const arrived = rows.find((r) => r[0] === `${c}/${path.client.ifname}`);
      expect(arrived, rows.map((r) => r.join(' | ')).join('\n')).toBeDefined();
      expect(arrived!.slice(1, 5)).toEqual([path.mgmt!.router.v4, '3', '4', '1500']);
      expect(arrived![5]).toMatch(/pmtu-watch event: .* PTB from 198\.19\.0\.1 .*\\nflow verdict: ptb-dropped \(rp_filter\)/);

      // Figures: how much a capture costs and how fast it reads.
      const t0 = performance.now();
      const again = readCapture(out);
      const readMs = performance.now() - t0;
      console.log(
        `record: ${events} events (${withPacket} with packets), ${verdictCount} verdicts, ${bytes} bytes, ${perEvent} bytes per event (all records); ` +
          `read back in ${readMs.toFixed(1)} ms (${Math.round((again.records.length / readMs) * 1000)} records/s); ` +
          `report --json ${report.ms.toFixed(0)} ms, report ${readable.ms.toFixed(0)} ms, export ${exp.ms.toFixed(0)} ms (process start included)`,
      );
    });

    it('a recorder killed with -9 mid-recording leaves a capture that reads back to its last whole record', async () => {
      lab = await NetLab.create('capkill');
      const path = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, ipv6: false });
      const out = join(dir, 'killed.pmtucap');
      const rec = await record(
        lab,
        path,
        out,
        async () => {
          await pingDf(lab!, path.ns.c, path.server.v4, { size: 4000, count: 2 });
        },
        'SIGKILL',
      );
      expect(rec.signal).toBe('SIGKILL');
      const { reader, records } = readCapture(out);
      expect(['eof', 'cut']).toContain(reader.state.ending);
      expect(records.some((r) => r.type === 'event')).toBe(true);
      expect(records.some((r) => r.type === 'end')).toBe(false);
      const report = await pmtuWatch(['report', '--json', out]);
      expect(report.code, report.stderr).toBe(0);
      expect(report.stdout).toContain('"verdict":"ptb-dropped"');
      expect(report.stderr).toMatch(/did not finish|cut off/);
      // The hooks of a killed recorder go with the namespaces at teardown; nothing else was attached.
    });
  },
  { requires: [needBtf, needAddon, needLabTools, needCommands('tshark')] },
);
