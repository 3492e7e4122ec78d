// pcapng export: the block structure read back by a small independent
// parser (and by tshark, when this machine has it).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { exportPcapng, LINKTYPE_RAW } from '../../src/capture/pcapng.js';
import { buildCapture, HEADER, stream } from '../helpers/capture.js';
import { needCommands } from '../helpers/kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-pcapng-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Block {
  type: number;
  body: Buffer;
}

function blocks(buf: Buffer): Block[] {
  const out: Block[] = [];
  let o = 0;
  while (o < buf.length) {
    const type = buf.readUInt32LE(o);
    const len = buf.readUInt32LE(o + 4);
    expect(len % 4).toBe(0);
    expect(buf.readUInt32LE(o + len - 4)).toBe(len);
    out.push({ type, body: buf.subarray(o + 8, o + len - 4) });
    o += len;
  }
  expect(o).toBe(buf.length);
  return out;
}

function options(buf: Buffer): Map<number, Buffer[]> {
  const m = new Map<number, Buffer[]>();
  let o = 0;
  for (;;) {
    const code = buf.readUInt16LE(o);
    const len = buf.readUInt16LE(o + 2);
    if (code === 0) {
      expect(len).toBe(0);
      expect(o + 4).toBe(buf.length);
      return m;
    }
    m.set(code, [...(m.get(code) ?? []), buf.subarray(o + 4, o + 4 + len)]);
    o += 4 + len + ((4 - (len % 4)) % 4);
  }
}

describe('pmtu-watch export --pcapng', () => {
  const built = buildCapture(stream('rp-filter'));
  const file = join(dir, 'rp.pmtucap');
  writeFileSync(file, built.bytes);
  const out = join(dir, 'rp.pcapng');
  const result = exportPcapng(file, out);
  const bytes = readFileSync(out);
  const all = blocks(bytes);

  it('a section header, then an interface per captured interface (raw IP), then one packet per snapshot', () => {
    const packets = built.snaps.filter((s) => s).length;
    expect(packets).toBeGreaterThan(5);
    expect(result).toMatchObject({ packets, bytes: bytes.length });
    expect(result.stop).toMatch(/to the end of the recording/);

    const [shb, ...rest] = all;
    expect(shb!.type).toBe(0x0a0d0d0a);
    expect(shb!.body.readUInt32LE(0)).toBe(0x1a2b3c4d);
    expect([shb!.body.readUInt16LE(4), shb!.body.readUInt16LE(6)]).toEqual([1, 0]);
    expect(shb!.body.readBigInt64LE(8)).toBe(-1n);
    const shbOpts = options(shb!.body.subarray(16));
    expect(shbOpts.get(2)![0]!.toString()).toBe('testhost');
    expect(shbOpts.get(3)![0]!.toString()).toBe('Linux 6.18.0 #1 SMP');
    expect(shbOpts.get(4)![0]!.toString()).toBe('pmtu-watch test');

    const idbs = rest.filter((b) => b.type === 1);
    const epbs = rest.filter((b) => b.type === 6);
    expect(rest.findIndex((b) => b.type === 6)).toBe(idbs.length); // interfaces before any packet
    expect(epbs).toHaveLength(packets);
    expect(idbs.length).toBe(result.interfaces);
    const names = idbs.map((b) => {
      expect(b.body.readUInt16LE(0)).toBe(LINKTYPE_RAW);
      const o = options(b.body.subarray(8));
      expect(o.get(9)![0]![0]).toBe(6); // microseconds
      return o.get(2)![0]!.toString();
    });
    // The watched interfaces first, in the header's order.
    expect(names.slice(0, 2)).toEqual(HEADER.interfaces.map((i) => `${i.netns}/${i.name}`));
    expect(idbs[0]!.body.subarray(8).toString()).toContain('mtu 9000');
  });

  it('each packet: its interface, its time in microseconds, the snapshot, the IP length, the direction, and a comment naming its event and its flow\'s verdict', () => {
    const epbs = all.filter((b) => b.type === 6);
    const idbNames = all.filter((b) => b.type === 1).map((b) => options(b.body.subarray(8)).get(2)![0]!.toString());
    const withSnap = built.events.flatMap((ev, i) => (built.snaps[i] ? [{ ev, snap: built.snaps[i]! }] : []));
    epbs.forEach((b, i) => {
      const { ev, snap } = withSnap[i]!;
      if (ev.kind === 'route') throw new Error('route events have no packet');
      expect(idbNames[b.body.readUInt32LE(0)]).toBe(`${ev.netns}/${ev.iface}`);
      const us = (BigInt(b.body.readUInt32LE(4)) << 32n) | BigInt(b.body.readUInt32LE(8));
      expect(us).toBe(BigInt(Math.round(ev.ts * 1000)));
      const caplen = b.body.readUInt32LE(12);
      expect(caplen).toBe(snap.length);
      expect(b.body.readUInt32LE(16)).toBe(Math.max(ev.len ?? 0, snap.length));
      expect(b.body.subarray(20, 20 + caplen).equals(snap)).toBe(true);
      const opts = options(b.body.subarray(20 + caplen + ((4 - (caplen % 4)) % 4)));
      const comment = opts.get(1)![0]!.toString('utf8');
      expect(comment).toMatch(/^pmtu-watch event: \d\d:\d\d:\d\d\.\d{3} /);
      expect(comment).toContain(ev.kind === 'drop' ? `DROP ${ev.reason}` : 'PTB from');
      expect(comment).toMatch(/\nflow verdict: ptb-dropped \(rp_filter\) for (icmp|tcp) 198\.18\.1\.2/);
      expect(comment).toMatch(/\nfix: /);
      const flags = opts.get(2)?.[0]?.readUInt32LE(0);
      expect(flags).toBe(ev.dir === 'ingress' ? 1 : ev.dir === 'egress' ? 2 : undefined);
    });
  });

  it.skipIf(needCommands('tshark')() !== undefined)('tshark reads it: a PTB is ICMP type 3 code 4 with MTU 1500, with its comment', () => {
    const fields = execFileSync('tshark', ['-r', out, '-Y', 'icmp.type == 3 && icmp.code == 4', '-T', 'fields', '-E', 'occurrence=f', '-e', 'icmp.type', '-e', 'icmp.code', '-e', 'icmp.mtu', '-e', 'frame.comment'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const rows = fields.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBe(built.snaps.filter((s) => s).length);
    for (const r of rows) {
      expect(r.slice(0, 3)).toEqual(['3', '4', '1500']);
      expect(r[3]).toMatch(/flow verdict: ptb-dropped \(rp_filter\)/);
    }
  });

  it('an output it cannot write: a one-line error, nothing left behind', () => {
    expect(() => exportPcapng(file, join(dir, 'no-such-dir', 'x.pcapng'))).toThrow(/cannot create .*x\.pcapng: ENOENT/);
  });
});
