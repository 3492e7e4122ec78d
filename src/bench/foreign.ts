// 8. Other tools' captures: how fast the pcap/pcapng reader (capture/foreign.ts)
// goes through a file far larger than its chunk, alone (no parsing past the
// link layer, no correlator), and that its memory stays bounded. `analyze`
// must do ≥ 300k packets/s end to end; the reader takes a share of that.

import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { ForeignCaptureReader } from '../capture/foreign.js';
import { benchFrames } from './frames.js';
import type { Section } from './report.js';

const PCAP_PACKETS = 1_500_000;
const PCAPNG_PACKETS = 1_000_000;
/** tcpdump's snaplen for headers: a bulk transfer's 1514-byte frames are cut to it. */
const SNAPLEN = 128;
/** What `analyze` must do end to end; the reader alone should leave it most of the time. */
const END_TO_END = 300_000;
const MIN_SHARE_OF_BUDGET = 5; // the reader at least 5x the end-to-end rate: a fifth of the time
/**
 * Each chunk is a fresh 1 MiB buffer (a packet's view must outlive the next
 * read), so dead chunks wait for V8's collection of external memory, which
 * starts at 64 MiB of it: the bound, whatever the file's size.
 */
const MAX_RSS_GROWTH = 96 * 1024 * 1024;

class Out {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(1 << 20);
  private n = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(b: Buffer): void {
    if (this.n + b.length > this.buf.length) this.flush();
    b.copy(this.buf, this.n);
    this.n += b.length;
  }
  flush(): void {
    for (let o = 0; o < this.n; ) o += writeSync(this.fd, this.buf, o, this.n - o);
    this.n = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function frames(): Buffer[] {
  const f = new Map(benchFrames().map((x) => [x.id, x.frame]));
  // A bulk transfer: data one way, ACKs back, some IPv6, a PTB now and then.
  return ['tcp4', 'ack4', 'tcp4', 'ack4', 'tcp6', 'ack6', 'tcp4', 'ack4', 'syn4', 'ptb4'].map((id) => f.get(id)!);
}

/** A microsecond pcap, Ethernet, snaplen 128. */
export function writePcap(path: string, packets: number): void {
  const fs = frames();
  const out = new Out(path);
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(SNAPLEN, 16);
  h.writeUInt32LE(1, 20);
  out.write(h);
  const rec = Buffer.alloc(16);
  let us = Date.now() * 1000;
  for (let i = 0; i < packets; i++) {
    const frame = fs[i % fs.length]!;
    const cap = Math.min(frame.length, SNAPLEN);
    us += 7;
    rec.writeUInt32LE(Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(cap, 8);
    rec.writeUInt32LE(frame.length, 12);
    out.write(rec);
    out.write(frame.subarray(0, cap));
  }
  out.close();
}

/** pcapng as dumpcap writes it: nanosecond EPBs with epb_flags, two interfaces. */
export function writePcapng(path: string, packets: number): void {
  const fs = frames();
  const out = new Out(path);
  const shb = Buffer.alloc(28);
  shb.writeUInt32LE(0x0a0d0d0a, 0);
  shb.writeUInt32LE(28, 4);
  shb.writeUInt32LE(0x1a2b3c4d, 8);
  shb.writeUInt16LE(1, 12);
  shb.writeBigInt64LE(-1n, 16);
  shb.writeUInt32LE(28, 24);
  out.write(shb);
  for (const name of ['eth0', 'eth1']) {
    // linktype, reserved, snaplen, if_name (4 bytes), if_tsresol 9, end
    const idb = Buffer.alloc(40);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(40, 4);
    idb.writeUInt16LE(1, 8);
    idb.writeUInt32LE(SNAPLEN, 12);
    idb.writeUInt16LE(2, 16);
    idb.writeUInt16LE(4, 18);
    idb.write(name, 20);
    idb.writeUInt16LE(9, 24);
    idb.writeUInt16LE(1, 26);
    idb[28] = 9;
    idb.writeUInt32LE(40, 36);
    out.write(idb);
  }
  let ns = BigInt(Date.now()) * 1_000_000n;
  for (let i = 0; i < packets; i++) {
    const frame = fs[i % fs.length]!;
    const cap = Math.min(frame.length, SNAPLEN);
    const padded = (cap + 3) & ~3;
    const len = 32 + padded + 12; // header, fixed part, data, epb_flags + end, trailer
    const b = Buffer.alloc(len);
    ns += 7000n;
    b.writeUInt32LE(6, 0);
    b.writeUInt32LE(len, 4);
    b.writeUInt32LE(i & 1, 8);
    b.writeUInt32LE(Number(ns >> 32n), 12);
    b.writeUInt32LE(Number(ns & 0xffffffffn), 16);
    b.writeUInt32LE(cap, 20);
    b.writeUInt32LE(frame.length, 24);
    frame.copy(b, 28, 0, cap);
    b.writeUInt16LE(2, 28 + padded);
    b.writeUInt16LE(4, 30 + padded);
    b.writeUInt32LE(i & 1 ? 1 : 2, 32 + padded);
    b.writeUInt32LE(len, len - 4);
    out.write(b);
  }
  out.close();
}

interface Run {
  rate: number;
  packets: number;
  bytesPerS: number;
  rssGrowth: number;
}

/** Reads the file through, touching what a consumer touches; the best of `rounds`. */
export function readThrough(path: string, rounds = 3): Run {
  let best: Run | undefined;
  const size = statSync(path).size;
  for (let r = 0; r < rounds; r++) {
    globalThis.gc?.();
    const rss0 = process.memoryUsage.rss();
    let rssMax = rss0;
    const t0 = performance.now();
    const reader = ForeignCaptureReader.open(path);
    let n = 0;
    let sum = 0;
    try {
      for (const p of reader) {
        sum += p.l3.length + p.l3Proto + (p.dir === null ? 0 : 1);
        if ((++n & 0x3ffff) === 0) rssMax = Math.max(rssMax, process.memoryUsage.rss());
      }
    } finally {
      reader.close();
    }
    const s = (performance.now() - t0) / 1000;
    if (reader.stats.damage) throw reader.stats.damage;
    if (sum === 0) throw new Error('read nothing');
    const run = { rate: n / s, packets: n, bytesPerS: size / s, rssGrowth: rssMax - rss0 };
    if (!best || run.rate > best.rate) best = { ...run, rssGrowth: Math.max(run.rssGrowth, best?.rssGrowth ?? 0) };
    else best.rssGrowth = Math.max(best.rssGrowth, run.rssGrowth);
  }
  return best!;
}

export function measureForeign(progress: (msg: string) => void): Section {
  const section: Section = {
    id: 'pcap',
    title: '8. Other tools\' captures (analyze\'s reader)',
    how: `the reader alone (link layer stripped, no correlator) over a generated file, best of 3: ${PCAP_PACKETS / 1e6}M-packet Ethernet pcap and ${PCAPNG_PACKETS / 1e6}M-packet nanosecond pcapng with epb_flags, snaplen ${SNAPLEN}, in 1 MiB chunks`,
    figures: [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'pmtu-bench-pcap-'));
  try {
    for (const [id, label, packets, write] of [
      ['pcap', 'pcap', PCAP_PACKETS, writePcap],
      ['pcapng', 'pcapng', PCAPNG_PACKETS, writePcapng],
    ] as const) {
      const file = join(dir, `bench.${id}`);
      progress(`pcap: writing ${packets / 1e6}M packets of ${label}`);
      write(file, packets);
      const size = statSync(file).size;
      progress(`pcap: reading ${label} (${(size / 1e6).toFixed(0)} MB)`);
      const r = readThrough(file);
      section.figures.push(
        {
          id: `pcap.${id}.rate`,
          label: `${label}: packets/s`,
          value: r.rate,
          unit: 'packets/s',
          ratio: { value: r.rate / END_TO_END, of: 'analyze\'s 300k/s', style: 'times' },
          target: { text: `>= ${MIN_SHARE_OF_BUDGET}x 300k/s`, pass: r.rate >= MIN_SHARE_OF_BUDGET * END_TO_END },
          note: `${r.packets} packets, ${(size / 1e6).toFixed(0)} MB at ${(r.bytesPerS / 1e6).toFixed(0)} MB/s`,
        },
        {
          id: `pcap.${id}.rss`,
          label: `${label}: memory growth while reading`,
          value: r.rssGrowth,
          unit: 'bytes',
          target: { text: `<= ${MAX_RSS_GROWTH / 2 ** 20} MiB`, pass: r.rssGrowth <= MAX_RSS_GROWTH },
          note: `a ${(size / 2 ** 20).toFixed(0)} MiB file; dead 1 MiB chunks until V8 collects external memory (from 64 MiB), whatever the file's size`,
        },
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return section;
}
