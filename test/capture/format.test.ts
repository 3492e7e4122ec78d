// The capture file: what is written reads back the same (events key for
// key, snapshots, verdicts, stats); a file cut off at any byte reads back to
// its last whole record and says where it stopped; anything else wrong is a
// one-line PMTU_ERR_CAPTURE, in bounded memory.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { Correlator } from '../../src/correlate/correlator.js';
import { CaptureReader } from '../../src/capture/reader.js';
import { crc32, frame, MAX_RECORD, preamble } from '../../src/capture/format.js';
import { decodeEvent, decodeStats, decodeVerdict, encodeEvent, encodeStats, encodeVerdict } from '../../src/contract/proto.js';
import type { CaptureRecord } from '../../src/capture/types.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import { oneLine, PmtuError } from '../../src/errors.js';
import { buildCapture, HEADER, memorySink, snapshot, statsAt, stream } from '../helpers/capture.js';

const STREAMS = ['bridge-port', 'firewall', 'healthy', 'mss-clamp', 'router-bottleneck', 'rp-filter', 'silent-blackhole'];

const dir = mkdtempSync(join(tmpdir(), 'pmtu-capture-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readAll(r: CaptureReader): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  for (const rec of r.records()) out.push(rec);
  return out;
}

/** The PmtuError reading these bytes gives (fails the test when there is none). */
function readError(bytes: Buffer): PmtuError {
  try {
    readAll(CaptureReader.fromBuffer(bytes, 'x.pmtucap'));
  } catch (e) {
    expect(e).toBeInstanceOf(PmtuError);
    expect((e as PmtuError).code).toBe('PMTU_ERR_CAPTURE');
    expect(oneLine(e)).not.toContain('\n');
    return e as PmtuError;
  }
  throw new Error('expected an error');
}

describe('capture round trip', () => {
  it.each(STREAMS)('%s: events (key for key, with snapshots), verdicts, stats, snapshots, note and end read back as written', (name) => {
    const built = buildCapture(stream(name));
    const path = join(dir, `${name}.pmtucap`);
    writeFileSync(path, built.bytes);
    const r = CaptureReader.open(path);
    expect(r.header).toEqual(HEADER);
    expect(r.version).toBe(1);
    const recs = readAll(r);
    r.close();

    const events = recs.flatMap((x) => (x.type === 'event' ? [x] : []));
    expect(events.map((e) => JSON.stringify(e.event))).toEqual(built.events.map((e) => JSON.stringify(e)));
    expect(events.map((e) => (e.snap.length ? e.snap.toString('hex') : undefined))).toEqual(built.snaps.map((s) => s?.toString('hex')));
    const verdicts = recs.flatMap((x) => (x.type === 'verdict' ? [x.verdict] : []));
    expect(verdicts.map((v) => JSON.stringify(v))).toEqual(built.verdicts.map((v) => JSON.stringify(v)));
    const stats = recs.flatMap((x) => (x.type === 'stats' ? [x] : []));
    expect(stats.map((s) => s.stats)).toEqual([statsAt(0), statsAt(built.events.length)]);
    const last = built.events.at(-1)!.ts;
    expect(stats.map((s) => s.time)).toEqual([HEADER.startTime, last]);
    const snaps = recs.flatMap((x) => (x.type === 'snapshot' ? [x.snapshot] : []));
    expect(snaps).toEqual([snapshot('start', HEADER.startTime), snapshot('end', last)]);
    expect(recs.find((x) => x.type === 'note')).toMatchObject({ text: 'a warning', time: last });
    const end = recs.at(-1)!;
    expect(end.type).toBe('end');
    expect(end.type === 'end' && end.end).toEqual({ time: last, reason: 'duration', events: built.events.length, verdicts: built.verdicts.length, records: recs.length });
    expect(r.state).toEqual({ records: recs.length + 1, offset: built.bytes.length, ending: 'end', trailing: 0, skipped: 0 });
    expect(r.describeStop()).toMatch(/to the end of the recording/);

    // The same correlator on the events read back gives the verdicts live gave.
    const c = new Correlator();
    expect(events.flatMap((e) => (e.event.kind === 'link' ? [] : c.push(e.event))).map((v) => JSON.stringify(v))).toEqual(built.verdicts.map((v) => JSON.stringify(v)));
  });

  it('event, verdict and stats messages stand alone (what the feed can send)', () => {
    const events = stream('rp-filter');
    for (const ev of events) {
      const snap = Buffer.from([0x45, 0, 1, 2]);
      const back = decodeEvent(encodeEvent(ev, snap));
      expect(JSON.stringify(back.event)).toBe(JSON.stringify(ev));
      expect(back.snap.equals(ev.kind === 'route' ? Buffer.alloc(0) : snap)).toBe(true);
    }
    const c = new Correlator();
    for (const v of events.flatMap((e) => c.push(e))) expect(JSON.stringify(decodeVerdict(encodeVerdict(v)))).toBe(JSON.stringify(v));
    expect(decodeStats(encodeStats(statsAt(7), 12.5))).toEqual({ stats: statsAt(7), time: 12.5 });
  });

  it('keeps what the JSON keeps: absent fields stay absent, zeros stay zeros, numbered protocols stay numbers', () => {
    const ev = {
      type: 'event' as const,
      kind: 'drop' as const,
      ts: 1795392355181.001,
      netns: 'netns:4026532001',
      iface: 'if7',
      dir: null,
      src: '2001:db8::1',
      dst: '2001:db8::2',
      sport: 0,
      dport: 0,
      proto: 47,
      mtu: 1400,
      len: 1500,
      reason: 'reason-250',
      mtuIface: 'gre1',
      mtuNetns: 'r',
      vlan: 4094,
      inner: { src: '::ffff:198.18.0.1', dst: '198.18.0.2', sport: 0, dport: 0, proto: 'sctp', len: 0 },
      flags: ['local', 'df', 'inner-truncated'],
    };
    expect(JSON.stringify(decodeEvent(encodeEvent(ev)).event)).toBe(JSON.stringify(ev));
    const bare = { type: 'event' as const, kind: 'size' as const, ts: 0.001, netns: '', iface: '', dir: 'egress' as const, flags: [] };
    expect(JSON.stringify(decodeEvent(encodeEvent(bare)).event)).toBe(JSON.stringify(bare));
  });

  it('the kernel flow state, retransmission timeouts and quote-mismatch (0.2), link changes (0.3), lost events and verdicts between capture points (0.4) read back key for key', () => {
    const head = (kind: 'retransmit' | 'ptb', dir: 'ingress' | 'egress') => ({ type: 'event' as const, kind, ts: 1795392355181.001, netns: 'c', iface: 'to-r1', dir, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp' });
    const rtx = {
      ...head('retransmit', 'egress'),
      mtu: 9000,
      len: 8960,
      mss: 8908,
      timeouts: 0,
      flow: {
        known: true,
        since: 1795392355100.5,
        initiator: 'dst' as const,
        syn: { first: 8960, firstIface: 'to-r1', last: 1460, lastIface: 'to-c' },
        synAck: { first: 0, firstIface: '', last: 0, lastIface: '' },
        largest: { fwd: 8960, rev: 0 },
        minMtu: { mtu: 1500, iface: 'to-r2' },
      },
      flags: ['df'],
    };
    expect(JSON.stringify(decodeEvent(encodeEvent(rtx)).event)).toBe(JSON.stringify(rtx));
    const noSyn = { ...rtx, flow: { known: true, since: 1, initiator: null, largest: { fwd: 0, rev: 0 } } };
    expect(JSON.stringify(decodeEvent(encodeEvent(noSyn)).event)).toBe(JSON.stringify(noSyn));
    const forged = { ...head('ptb', 'ingress'), flow: { known: false }, flags: ['icmp-error', 'quote-mismatch'] };
    expect(JSON.stringify(decodeEvent(encodeEvent(forged)).event)).toBe(JSON.stringify(forged));
    // 0.3: who holds a container's namespace.
    const { flags, ...noFlags } = forged;
    const inPod = { ...noFlags, netns: 'pod:kube-system/coredns-5d78c', netnsInfo: { kind: 'pod' as const, inode: 4026532254, pod: 'coredns-5d78c', namespace: 'kube-system', uid: '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0', pid: 900, comm: 'pause' }, flags };
    expect(JSON.stringify(decodeEvent(encodeEvent(inPod)).event)).toBe(JSON.stringify(inPod));
    const inDocker = { ...noFlags, netns: 'docker:web-1', netnsInfo: { kind: 'docker' as const, inode: 4026532255, name: 'web-1', id: 'f3a9c1d2e4b5', pid: 812 }, flags };
    expect(JSON.stringify(decodeEvent(encodeEvent(inDocker)).event)).toBe(JSON.stringify(inDocker));
    // 0.3: a link change reads back key for key.
    const link = { type: 'event' as const, kind: 'link' as const, ts: 1795392355181.5, netns: 'pve', iface: 'tap100i1', changes: ['mtu', 'master'], mtu: 1500, master: '', up: true, was: { mtu: 9000, master: 'vmbr0v180' } };
    expect(JSON.stringify(decodeEvent(encodeEvent(link)).event)).toBe(JSON.stringify(link));
    const added = { type: 'event' as const, kind: 'link' as const, ts: 1, netns: 'pve', iface: 'tap101i0', changes: ['added'], mtu: 1500, master: 'vmbr0', up: false };
    expect(JSON.stringify(decodeEvent(encodeEvent(added)).event)).toBe(JSON.stringify(added));
    // 0.4: what analyze sees between two capture points, and the verdict placed between them.
    const lost = {
      type: 'event' as const,
      kind: 'lost' as const,
      ts: 1795392355181.25,
      netns: 'client.pcap',
      iface: 'client.pcap',
      dir: null,
      src: '198.18.1.2',
      dst: '198.18.3.2',
      sport: 40000,
      dport: 443,
      proto: 'tcp',
      lost: { netns: 'server.pcap', iface: 'server.pcap', count: 7, smallest: 9000, largest: 9000, df: 7, passed: 0, passedLargest: 0 },
      flow: { known: true, since: 1795392355100.5, initiator: 'src' as const, largest: { fwd: 9000, rev: 52 } },
      flags: ['df'],
    };
    expect(JSON.stringify(decodeEvent(encodeEvent(lost)).event)).toBe(JSON.stringify(lost));
    const between = new Correlator({ capture: true }).push(lost)[0]!;
    expect(between.where.next).toEqual({ netns: 'server.pcap', iface: 'server.pcap' });
    expect(JSON.stringify(decodeVerdict(encodeVerdict(between)))).toBe(JSON.stringify(between));
    const traffic = { flows: 3, syns: 2, synAcks: 2, ptbs: 1, byHook: [{ netns: 'c', iface: 'to-r1', flows: 3, syns: 2, synAcks: 2, ptbs: 1 }] };
    expect(decodeStats(encodeStats({ ...statsAt(7), traffic }, 1)).stats).toEqual({ ...statsAt(7), traffic });
  });
});

/** A small capture (the bridge-port stream) and where each of its records starts and ends. */
function small() {
  const built = buildCapture(stream('bridge-port'));
  const r = CaptureReader.fromBuffer(built.bytes);
  const recs = readAll(r);
  const starts = recs.map((x) => x.offset);
  const ends = [...starts.slice(1), built.bytes.length];
  return { built, recs, starts, ends, headerEnd: starts[0]! };
}

describe('a capture cut off at every byte', () => {
  const { built, recs, ends, headerEnd } = small();

  it(`is small enough to cut everywhere (${built.bytes.length} bytes, ${recs.length + 1} records)`, () => {
    expect(built.bytes.length).toBeLessThan(8192);
    expect(recs.length).toBeGreaterThan(8);
  });

  it('before its header ends: a clear error, never a crash', () => {
    for (let cut = 0; cut < headerEnd; cut++) {
      const e = readError(built.bytes.subarray(0, cut));
      expect(e.message).toMatch(cut === 0 ? /empty file/ : /cut off inside its header/);
    }
  });

  it('anywhere after: every whole record before the cut, and where it stopped', () => {
    for (let cut = headerEnd; cut < built.bytes.length; cut++) {
      const r = CaptureReader.fromBuffer(built.bytes.subarray(0, cut));
      const got = readAll(r);
      const whole = ends.filter((e) => e <= cut).length;
      expect(got.length, `cut at ${cut}`).toBe(whole);
      const offset = whole ? ends[whole - 1]! : headerEnd;
      expect(r.state).toEqual({ records: whole + 1, offset, ending: offset === cut ? 'eof' : 'cut', trailing: cut - offset, skipped: 0 });
      expect(r.describeStop()).toContain(`${offset} bytes`);
      for (let i = 0; i < got.length; i++) expect(got[i]).toEqual(recs[i]);
    }
  });

  it('the same through files, at every byte', () => {
    const path = join(dir, 'cut.pmtucap');
    for (let cut = headerEnd; cut <= built.bytes.length; cut++) {
      writeFileSync(path, built.bytes.subarray(0, cut));
      const r = CaptureReader.open(path);
      const n = readAll(r).length;
      r.close();
      expect(n, `cut at ${cut}`).toBe(ends.filter((e) => e <= cut).length);
    }
  });

  it('zeros after the last whole record (a crash before the data reached the disk) read as a cut, not corruption', () => {
    const cut = ends[3]!;
    for (const tail of [Buffer.alloc(1), Buffer.alloc(4096)]) {
      const r = CaptureReader.fromBuffer(Buffer.concat([built.bytes.subarray(0, cut), tail]));
      expect(readAll(r)).toHaveLength(4);
      expect(r.state).toMatchObject({ ending: 'zeros', offset: cut, trailing: tail.length });
      expect(r.describeStop()).toMatch(/zero bytes follow/);
    }
  });

  it('a recording that did not finish (no end record) reads back whole and says so', () => {
    const unfinished = buildCapture(stream('bridge-port'), { end: false });
    const r = CaptureReader.fromBuffer(unfinished.bytes);
    expect(readAll(r).map((x) => x.type)).toEqual(recs.slice(0, -1).map((x) => x.type));
    expect(r.state.ending).toBe('eof');
    expect(r.describeStop()).toMatch(/did not finish/);
  });
});

describe('a capture that is not right', () => {
  const { built, starts, headerEnd } = small();

  it('not a capture at all: JSON lines, text, random bytes', () => {
    expect(readError(Buffer.from('{"type":"event"}\n')).message).toMatch(/not a pmtu-watch capture/);
    expect(readError(Buffer.from('\x89PMTUXYZ\r\n\x1a\n\x01\x00\x00\x00', 'latin1')).message).toMatch(/not a pmtu-watch capture/);
    expect(readError(Buffer.from([0xde, 0xad])).message).toMatch(/not a pmtu-watch capture/);
  });

  it('a format this version does not read, a format 0, unknown flags, another schema', () => {
    const withPreamble = (p: Buffer) => Buffer.concat([p, built.bytes.subarray(16)]);
    const newer = readError(withPreamble(preamble(2)));
    expect(newer.message).toMatch(/capture format 2 is newer than this pmtu-watch reads \(1\)/);
    expect(newer.hint).toMatch(/newer pmtu-watch/);
    expect(readError(withPreamble(preamble(0))).message).toMatch(/format 0/);
    expect(readError(withPreamble(preamble(1, 4))).message).toMatch(/unknown capture flags 0x4/);
    const sink = memorySink();
    new CaptureWriter(sink, { ...HEADER, schema: 'pmtu.v9' }).close();
    expect(readError(sink.bytes()).message).toMatch(/schema is "pmtu.v9"; this pmtu-watch reads pmtu.v1/);
  });

  it('a flipped byte in any record is a checksum mismatch at that record, with what came before', () => {
    for (let i = 1; i < starts.length; i += 3) {
      const bad = Buffer.from(built.bytes);
      const at = starts[i]! + 3;
      bad[at] = bad[at]! ^ 0x20;
      const e = readError(bad);
      expect(e.message).toMatch(new RegExp(`corrupt at byte ${starts[i]} \\(record ${i + 2}\\)`));
      expect(e.hint).toMatch(new RegExp(`the ${i + 1} records before it are whole`));
    }
  });

  it('a huge length prefix is refused before anything is allocated for it', () => {
    const huge = Buffer.concat([built.bytes.subarray(0, headerEnd), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(64, 1)]);
    expect(readError(huge).message).toMatch(new RegExp(`corrupt at byte ${headerEnd} \\(record 2\\): a record length of 4294967295 bytes \\(at most ${MAX_RECORD}\\)`));
    const sixBytes = Buffer.concat([built.bytes.subarray(0, headerEnd), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]);
    expect(readError(sixBytes).message).toMatch(/more than 5 bytes/);
  });

  it('a length at the bound with the file ending early is a cut, read in bounded memory', () => {
    const v = MAX_RECORD;
    const len = Buffer.from([(v & 0x7f) | 0x80, ((v >>> 7) & 0x7f) | 0x80, ((v >>> 14) & 0x7f) | 0x80, v >>> 21]);
    const bytes = Buffer.concat([built.bytes.subarray(0, headerEnd), len, Buffer.alloc(100, 7)]);
    const path = join(dir, 'bound.pmtucap');
    writeFileSync(path, bytes);
    const before = process.memoryUsage().arrayBuffers;
    const r = CaptureReader.open(path);
    expect(readAll(r)).toEqual([]);
    r.close();
    expect(r.state).toMatchObject({ ending: 'cut', offset: headerEnd, trailing: 104 });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MAX_RECORD + 4 * 1024 * 1024);
  });

  it('a record with a good checksum that does not decode, a second header, a zero length in the middle', () => {
    const head = built.bytes.subarray(0, headerEnd);
    const undecodable = Buffer.concat([head, frame(Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]))]);
    expect(readError(undecodable).message).toMatch(/undecodable record/);
    const second = Buffer.concat([head, built.bytes.subarray(16, headerEnd)]);
    expect(readError(second).message).toMatch(/a second header/);
    const zero = Buffer.concat([head, Buffer.from([0, 1, 2, 3])]);
    expect(readError(zero).message).toMatch(/a record of length 0/);
  });

  it('a record of a kind this version does not know is skipped and counted', () => {
    const unknown = Buffer.from([0x9a, 0x06, 0x02, 0x08, 0x01]); // field 99, 2 bytes: a newer pmtu.v1's record
    const bytes = Buffer.concat([built.bytes.subarray(0, headerEnd), frame(unknown), built.bytes.subarray(headerEnd)]);
    const r = CaptureReader.fromBuffer(bytes);
    expect(readAll(r).length).toBe(small().recs.length);
    expect(r.state.skipped).toBe(1);
    expect(r.describeStop()).toMatch(/1 of a kind this version does not know skipped/);
  });

  it('random damage anywhere gives records or a PMTU_ERR_CAPTURE, never anything else', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let errors = 0;
    for (let round = 0; round < 3000; round++) {
      const bad = Buffer.from(built.bytes);
      const hits = 1 + Math.floor(rand() * 4);
      for (let h = 0; h < hits; h++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? Math.floor(rand() * bad.length) : bad.length;
      try {
        readAll(CaptureReader.fromBuffer(bad.subarray(0, cut)));
      } catch (e) {
        if (!(e instanceof PmtuError) || e.code !== 'PMTU_ERR_CAPTURE') throw e;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
  });

  it('crc32 is the IEEE one zlib uses', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('the writer', () => {
  it('a disk that fills mid-write: the error says what, the file reads back to its last whole record', () => {
    const events = stream('rp-filter');
    const write = (sink: ReturnType<typeof memorySink>) => {
      const w = new CaptureWriter(sink, HEADER);
      for (const ev of events) {
        w.event(ev);
        w.flush();
      }
      w.end('duration', 1);
      return w;
    };
    const full = memorySink();
    write(full);
    const total = full.bytes().length;
    for (const room of [Math.floor(total / 4), Math.floor(total / 2) + 3, total - 1]) {
      const sink = memorySink(room);
      const w = write(sink);
      expect(w.error?.message).toMatch(/cannot write the capture: ENOSPC/);
      expect(w.dropped).toBeGreaterThan(0);
      expect(sink.closed).toBe(true);
      const bytes = sink.bytes();
      expect(bytes.length).toBe(room);
      const r = CaptureReader.fromBuffer(bytes);
      const got = readAll(r);
      expect(got.length).toBeGreaterThanOrEqual(w.recordsWritten - 1);
      expect(got.every((x) => x.type === 'event')).toBe(true);
      expect(['cut', 'eof']).toContain(r.state.ending);
      expect(full.bytes().subarray(0, room).equals(bytes)).toBe(true);
    }
  });

  it('buffers at most 64 KiB before writing', () => {
    const sink = memorySink();
    const w = new CaptureWriter(sink, HEADER);
    const ev = stream('healthy')[0]!;
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      w.event(ev);
      most = Math.max(most, w.bytes - sink.bytes().length);
    }
    expect(most).toBeLessThanOrEqual(64 * 1024);
    w.close();
    expect(sink.bytes().length).toBe(w.bytes);
  });
});
