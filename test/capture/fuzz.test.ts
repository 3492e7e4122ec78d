// Capture files from untrusted sources, fuzzed: random bytes, a good file
// with random damage after its header, records whose checksum is right but
// whose protobuf is not (mutated, random, with huge lengths inside), huge
// length prefixes. Reading, reporting and exporting give the records, or one
// PMTU_ERR_CAPTURE line — never another exception, never a crash — in
// memory bounded by the record size limit, whatever a file claims.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { frame, MAX_RECORD, preamble } from '../../src/capture/format.js';
import { exportPcapng } from '../../src/capture/pcapng.js';
import { CaptureReader, MAX_SMALL_RECORD } from '../../src/capture/reader.js';
import { digest } from '../../src/sinks/digest.js';
import { oneLine, PmtuError } from '../../src/errors.js';
import { buildCapture, stream } from '../helpers/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-capture-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** mulberry32, seeded: the same files on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, bytes };
}

function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

const good = buildCapture([...stream('rp-filter'), ...stream('bridge-port')]);
const goodReader = CaptureReader.fromBuffer(good.bytes);
const offsets = [...goodReader.records()].map((r) => r.offset);
const headerEnd = offsets[0]!;
/** The protobuf body of each record after the header (without length and CRC). */
const bodies = offsets.map((start, i) => {
  const end = offsets[i + 1] ?? good.bytes.length;
  const rec = good.bytes.subarray(start, end);
  let n = 0;
  while (rec[n]! & 0x80) n++;
  return rec.subarray(n + 1, rec.length - 4);
});

type Outcome = 'read' | 'refused';

/** Reads every record (and, once, consumes them as report and export do): records or one PMTU_ERR_CAPTURE line. */
function outcome(bytes: Buffer): Outcome {
  try {
    const r = CaptureReader.fromBuffer(bytes, 'fuzz.pmtucap');
    for (const rec of r.records()) void rec;
    return 'read';
  } catch (e) {
    if (!(e instanceof PmtuError) || e.code !== 'PMTU_ERR_CAPTURE') throw e;
    expect(oneLine(e)).not.toContain('\n');
    return 'refused';
  }
}

/** A capture: the good header, then these records (framed with a right CRC). */
function withRecords(...messages: Buffer[]): Buffer {
  return Buffer.concat([good.bytes.subarray(0, headerEnd), ...messages.map((m) => frame(m))]);
}

function mutate(g: ReturnType<typeof prng>, body: Buffer): Buffer {
  const b = Buffer.from(body);
  switch (g.int(5)) {
    case 0: // flipped bits
      for (let i = 0, n = 1 + g.int(6); i < n && b.length; i++) b[g.int(b.length)]! ^= 1 << g.int(8);
      return b;
    case 1: // cut short
      return b.subarray(0, g.int(b.length + 1));
    case 2: // random bytes spliced in
      return Buffer.concat([b.subarray(0, g.int(b.length + 1)), g.bytes(1 + g.int(16)), b.subarray(g.int(b.length + 1))]);
    case 3: // a huge length inside: a length-delimited field claiming up to 4 GiB
      return Buffer.concat([b.subarray(0, g.int(b.length + 1)), Buffer.from([(1 + g.int(15)) * 8 + 2]), varint(g.int(2) ? 0xffffffff : MAX_RECORD + g.int(1000)), g.bytes(g.int(8))]);
    default: // a field of the wrong wire type
      return Buffer.concat([Buffer.from([(1 + g.int(15)) * 8 + g.int(8)]), g.bytes(1 + g.int(8)), b]);
  }
}

describe('capture files from untrusted sources', () => {
  it('random bytes, with or without the capture magic: refused in one line', () => {
    const g = prng(1);
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const junk = g.bytes(g.int(2048));
      const bytes = i % 3 === 0 ? Buffer.concat([preamble(), junk]) : i % 3 === 1 ? Buffer.concat([preamble().subarray(0, 12), junk]) : junk;
      if (outcome(bytes) === 'refused') refused++;
    }
    expect(refused).toBe(3000); // no header, no capture: nothing random makes one
  });

  it('random damage after a good header: the records before it, or a one-line error', () => {
    const g = prng(2);
    const seen = { read: 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(good.bytes);
      const from = headerEnd + g.int(bytes.length - headerEnd);
      for (let k = 0, n = 1 + g.int(8); k < n; k++) bytes[from + g.int(bytes.length - from)] = g.int(256);
      const cut = g.next() < 0.3 ? from + g.int(bytes.length - from) : bytes.length;
      seen[outcome(bytes.subarray(0, cut))]++;
    }
    expect(seen.read + seen.refused).toBe(3000);
    expect(seen.refused).toBeGreaterThan(1000);
  });

  it('records whose checksum is right but whose protobuf is mutated, random, or claims gigabytes: records or one line, never another exception', () => {
    const g = prng(3);
    const seen = { read: 0, refused: 0 };
    for (let i = 0; i < 5000; i++) {
      const messages: Buffer[] = [];
      for (let k = 0, n = 1 + g.int(4); k < n; k++) {
        const body = bodies[1 + g.int(bodies.length - 1)]!;
        messages.push(g.int(4) === 0 ? g.bytes(g.int(64)) : mutate(g, body));
      }
      seen[outcome(withRecords(...messages))]++;
    }
    expect(seen.read + seen.refused).toBe(5000);
    expect(seen.read).toBeGreaterThan(100); // some mutations leave valid records: those must read
    expect(seen.refused).toBeGreaterThan(100);
  });

  it('huge length prefixes anywhere: refused before anything that size is allocated', () => {
    const g = prng(4);
    const before = process.memoryUsage();
    for (let i = 0; i < 2000; i++) {
      const at = offsets[g.int(offsets.length)]!;
      const claim = g.int(3) === 0 ? MAX_RECORD + 1 + g.int(1 << 20) : 2 ** 28 + g.int(2 ** 31);
      const bytes = Buffer.concat([good.bytes.subarray(0, at), varint(claim), g.bytes(g.int(64))]);
      expect(outcome(bytes)).toBe('refused');
    }
    const after = process.memoryUsage();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(32 * 1024 * 1024);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024);
  });

  it('an event record of 16 MiB (a million packed flags) is refused before it is decoded', () => {
    const n = MAX_RECORD - 64;
    const event = Buffer.concat([Buffer.from([0x08, 0x01, 0x9a, 0x01]), varint(n), Buffer.alloc(n, 2)]); // kind 1, flags (field 19) packed
    const record = Buffer.concat([Buffer.from([0x12]), varint(event.length), event]);
    const before = process.memoryUsage();
    expect(() => [...CaptureReader.fromBuffer(withRecords(record)).records()]).toThrow(`an event record of ${record.length} bytes (at most ${MAX_SMALL_RECORD})`);
    // Decoded, it would have taken some 500 MB.
    expect(process.memoryUsage().heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024);
  });

  it('report and export of fuzzed files: their result, or a PmtuError, never another exception', () => {
    const g = prng(5);
    let files = 0;
    for (let i = 0; i < 300; i++) {
      const messages = Array.from({ length: 1 + g.int(6) }, () => mutate(g, bodies[1 + g.int(bodies.length - 1)]!));
      const bytes = g.int(2) ? withRecords(...messages) : Buffer.concat([good.bytes.subarray(0, headerEnd), ...bodies.slice(1).map((b) => frame(b)), ...messages.map((m) => frame(m))]);
      const file = join(dir, `f${i}.pmtucap`);
      writeFileSync(file, bytes);
      files++;
      for (const consume of [() => digest(file), () => exportPcapng(file, join(dir, `f${i}.pcapng`))]) {
        try {
          consume();
        } catch (e) {
          if (!(e instanceof PmtuError)) throw e;
          expect(oneLine(e)).not.toContain('\n');
        }
      }
    }
    expect(files).toBe(300);
  });
});
