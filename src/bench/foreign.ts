// 8. Other tools' captures: how fast the pcap/pcapng reader (capture/foreign.ts)
// goes through a file far larger than its chunk, alone (no parsing past the
// link layer, no correlator), and that its memory stays bounded; then
// `analyze` end to end (reader, the tc rules, the pcap source's flow table
// and sequence numbers, session, correlator, JSON lines counted), which must
// do ≥ 300k packets/s over a capture of mostly healthy TCP data in bounded memory;
// and the same traffic captured at two points (every packet followed from one
// to the other, sources/crossing.ts), a few transfers losing their large
// segments between them.

import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { ForeignCaptureReader } from '../capture/foreign.js';
import { Session } from '../session.js';
import { JsonLines } from '../sinks/json-lines.js';
import type { Lines } from '../sinks/output.js';
import { PcapSource } from '../sources/pcap.js';
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

/** The global header of a microsecond pcap of Ethernet frames, snaplen SNAPLEN. */
function pcapHeader(): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(SNAPLEN, 16);
  h.writeUInt32LE(1, 20);
  return h;
}

/** A microsecond pcap, Ethernet, snaplen 128. */
export function writePcap(path: string, packets: number): void {
  const fs = frames();
  const out = new Out(path);
  out.write(pcapHeader());
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

/** The end-to-end capture: this many packets of TCP transfers, FLOWS_AT_ONCE of them interleaved. */
const E2E_PACKETS = 1_000_000;
const FLOWS_AT_ONCE = 64;
/** Packets of one transfer before it ends and another starts (~500 transfers in all). */
const PACKETS_PER_FLOW = 2000;
/** One packet in this many is a resend of the previous segment (a little loss), one transfer in 50 meets a PTB. */
const RESEND_EVERY = 997;
const MAX_E2E_RSS_GROWTH = 160 * 1024 * 1024;

/** An Ethernet + IPv4 + TCP frame (timestamps option: a 32-byte TCP header), checksums left 0. */
function tcpFrame(o: { src: number; dst: number; sport: number; dport: number; seq: number; ack: number; flags: number; payload: number; mss?: number }): Buffer {
  const opts = o.mss ? 20 : 12;
  const tcpLen = 20 + opts;
  const ipLen = 20 + tcpLen + o.payload;
  const b = Buffer.alloc(14 + 20 + tcpLen);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(ipLen, 16);
  b.writeUInt16BE(0x4000, 20);
  b[22] = 64;
  b[23] = 6;
  b.writeUInt32BE(o.src >>> 0, 26);
  b.writeUInt32BE(o.dst >>> 0, 30);
  const t = 34;
  b.writeUInt16BE(o.sport, t);
  b.writeUInt16BE(o.dport, t + 2);
  b.writeUInt32BE(o.seq >>> 0, t + 4);
  b.writeUInt32BE(o.ack >>> 0, t + 8);
  b[t + 12] = (tcpLen / 4) << 4;
  b[t + 13] = o.flags;
  b.writeUInt16BE(65535, t + 14);
  let q = t + 20;
  if (o.mss) {
    b.set([2, 4, o.mss >> 8, o.mss & 0xff, 4, 2, 1, 1], q);
    q += 8;
  }
  b.set([1, 1, 8, 10], q); // NOP NOP timestamps (values 0)
  return b;
}

/** The frame a router sends back about a too-big one (ICMP frag-needed quoting its first 548 bytes' headers). */
function ptbFrame(quoted: Buffer, router: number, mtu: number): { frame: Buffer; origLen: number } {
  const q = quoted.subarray(14);
  const icmp = Buffer.alloc(8);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.writeUInt16BE(mtu, 6);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + 548, 2);
  ip[8] = 64;
  ip[9] = 1;
  ip.writeUInt32BE(router >>> 0, 12);
  q.copy(ip, 16, 12, 16); // to the quoted packet's sender
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return { frame: Buffer.concat([eth, ip, icmp, q]), origLen: 14 + 20 + 8 + 548 };
}

/**
 * A pcap of TCP bulk transfers as tcpdump -s 128 writes it on a server: each
 * a handshake, then 1448-byte segments (1500-byte packets) one way and an
 * ACK every second segment back; a segment resent now and then; one transfer
 * in 50 meets a PTB (mtu 1400) and goes on at 1400. With `twin`, the same
 * traffic as the clients' side of the path sees it too (a microsecond after
 * the server's side one way, before it the other; no PTB, which goes to the
 * server): there one other transfer in 50 starts at 1400 and loses every
 * 1500-byte segment from its 100th packet on, between the two points.
 */
export function writeTcpPcap(path: string, packets: number, twin?: string): { flows: number } {
  const out = new Out(path);
  out.write(pcapHeader());
  const other = twin === undefined ? undefined : new Out(twin);
  other?.write(pcapHeader());
  const rec = Buffer.alloc(16);
  let us = Date.now() * 1000;
  const record = (o: Out, at: number, frame: Buffer, cap: number, origLen: number) => {
    rec.writeUInt32LE(Math.floor(at / 1e6), 0);
    rec.writeUInt32LE(at % 1e6, 4);
    rec.writeUInt32LE(cap, 8);
    rec.writeUInt32LE(origLen, 12);
    o.write(rec);
    o.write(frame.subarray(0, cap));
  };
  /** `toServer`: the packet's way (the server's side sees it a microsecond later); `there`: it reaches the clients' side. */
  const put = (frame: Buffer, origLen = frame.length, toServer = false, there = true) => {
    const cap = Math.min(frame.length, SNAPLEN);
    us += 3;
    if (!other) return record(out, us, frame, cap, origLen);
    record(out, toServer ? us + 1 : us, frame, cap, origLen);
    if (there) record(other, toServer ? us : us + 1, frame, cap, origLen);
  };
  const server = 0xc6120302; // 198.18.3.2
  const router = 0xc6120101;
  interface Xfer {
    client: number;
    port: number;
    seq: number;
    ack: number;
    sent: number;
    size: number;
    ptb: boolean;
    /** Its large segments vanish between the two points (twin only). */
    hole: boolean;
  }
  let made = 0;
  const start = (): Xfer => {
    const n = made++;
    const hole = other !== undefined && n % 50 === 23;
    return { client: 0xc6120000 + 0x200 + (n % 250) + 1, port: 10000 + (n % 50000), seq: (n * 2654435761) >>> 0, ack: (n * 40503) >>> 0, sent: 0, size: hole ? 1400 : 1500, ptb: n % 50 === 7, hole };
  };
  const xfers: Xfer[] = [];
  for (let i = 0; i < FLOWS_AT_ONCE; i++) xfers.push(start());
  let n = 0;
  let last: { frame: Buffer; len: number; lost: boolean } | undefined;
  while (n < packets) {
    const i = n % FLOWS_AT_ONCE;
    let x = xfers[i]!;
    if (x.sent >= PACKETS_PER_FLOW) x = xfers[i] = start();
    const base = { src: server, dst: x.client, sport: 443, dport: x.port };
    const back = { src: x.client, dst: server, sport: x.port, dport: 443 };
    if (x.hole && x.sent === 100) x.size = 1500;
    if (x.sent === 0) {
      put(tcpFrame({ ...back, seq: x.ack - 1, ack: 0, flags: 0x02, payload: 0, mss: 1460 }), undefined, true);
      put(tcpFrame({ ...base, seq: x.seq - 1, ack: x.ack, flags: 0x12, payload: 0, mss: 1460 }));
      put(tcpFrame({ ...back, seq: x.ack, ack: x.seq, flags: 0x10, payload: 0 }), undefined, true);
      n += 3;
    } else if (x.sent % 3 === 2) {
      put(tcpFrame({ ...back, seq: x.ack, ack: x.seq, flags: 0x10, payload: 0 }), undefined, true);
      n++;
    } else if (n % RESEND_EVERY === 0 && last) {
      put(last.frame, last.len, false, !last.lost);
      n++;
    } else {
      const payload = x.size - 52;
      const f = tcpFrame({ ...base, seq: x.seq, ack: x.ack, flags: 0x10, payload });
      const lost = x.hole && x.size === 1500;
      put(f, 14 + x.size, false, !lost);
      last = { frame: f, len: 14 + x.size, lost };
      if (x.ptb && x.sent === 100) {
        const p = ptbFrame(Buffer.concat([f, Buffer.alloc(payload)]), router, 1400);
        put(p.frame, p.origLen, false, false);
        x.size = 1400; // resends the segment at the new size
        n++;
      } else {
        x.seq = (x.seq + payload) >>> 0;
      }
      n++;
    }
    x.sent++;
  }
  out.close();
  other?.close();
  return { flows: made };
}

interface E2eRun {
  rate: number;
  packets: number;
  events: number;
  /** Of them, `lost` events (two capture points). */
  lost: number;
  lines: number;
  rssGrowth: number;
  verdicts: Record<string, number>;
}

/** analyze --json over the files, lines counted (JSON made, not written); the best of `rounds`. */
export async function analyzeThrough(paths: string | readonly string[], rounds = 3): Promise<E2eRun> {
  const files = typeof paths === 'string' ? [paths] : paths;
  let best: E2eRun | undefined;
  for (let r = 0; r < rounds; r++) {
    globalThis.gc?.();
    const rss0 = process.memoryUsage.rss();
    let rssMax = rss0;
    let lines = 0;
    let bytes = 0;
    const counting: Lines = {
      line(text) {
        lines++;
        bytes += text.length;
        if ((lines & 0xfff) === 0) rssMax = Math.max(rssMax, process.memoryUsage.rss());
        return true;
      },
      dropped: 0,
    };
    const t0 = performance.now();
    const { source, failures } = PcapSource.open(files);
    if (failures.length) throw failures[0]!.error;
    const session = new Session(source, [new JsonLines(counting)]);
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage.rss())), 50);
    let lost = 0;
    try {
      lost = (await session.run({ stop: new Promise(() => {}), statsEveryMs: 5000 })).events.lost ?? 0;
    } finally {
      clearInterval(sampler);
      session.close();
    }
    const s = (performance.now() - t0) / 1000;
    for (const f of source.files()) if (f.stats.damage) throw f.stats.damage;
    const verdicts: Record<string, number> = {};
    for (const v of session.correlator.verdicts()) verdicts[v.verdict] = (verdicts[v.verdict] ?? 0) + 1;
    const run = { rate: source.packets / s, packets: source.packets, events: session.events, lost, lines, rssGrowth: rssMax - rss0, verdicts };
    if (bytes === 0) throw new Error('no output');
    if (!best || run.rate > best.rate) best = { ...run, rssGrowth: Math.max(run.rssGrowth, best?.rssGrowth ?? 0) };
    else best.rssGrowth = Math.max(best.rssGrowth, run.rssGrowth);
  }
  return best!;
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

export async function measureForeign(progress: (msg: string) => void): Promise<Section> {
  const section: Section = {
    id: 'pcap',
    title: '8. Other tools\' captures (analyze: its reader, then end to end)',
    how:
      `the reader alone (link layer stripped, no correlator) over a generated file, best of 3: ${PCAP_PACKETS / 1e6}M-packet Ethernet pcap and ${PCAPNG_PACKETS / 1e6}M-packet nanosecond pcapng with epb_flags, snaplen ${SNAPLEN}, in 1 MiB chunks; ` +
      `then analyze --json end to end (reader, tc rules, pcap source, session, correlator, JSON lines made and counted) over a ${E2E_PACKETS / 1e6}M-packet pcap of TCP transfers (${FLOWS_AT_ONCE} at once, 1500-byte segments and ACKs, a resend every ${RESEND_EVERY} packets, a PTB in one transfer of 50), best of 3`,
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
    const file = join(dir, 'tcp.pcap');
    progress(`pcap: writing ${E2E_PACKETS / 1e6}M packets of TCP transfers`);
    const { flows } = writeTcpPcap(file, E2E_PACKETS);
    const size = statSync(file).size;
    progress(`pcap: analyze end to end (${(size / 1e6).toFixed(0)} MB)`);
    const r = await analyzeThrough(file);
    const verdicts = Object.entries(r.verdicts)
      .map(([v, n]) => `${n} ${v}`)
      .join(', ');
    section.figures.push(
      {
        id: 'pcap.analyze.rate',
        label: 'analyze end to end: packets/s',
        value: r.rate,
        unit: 'packets/s',
        target: { text: `>= ${END_TO_END / 1000}k/s`, pass: r.rate >= END_TO_END },
        note: `${r.packets} packets of ${flows} TCP transfers, ${r.events} events, ${r.lines} JSON lines; verdicts: ${verdicts}`,
      },
      {
        id: 'pcap.analyze.rss',
        label: 'analyze end to end: memory growth',
        value: r.rssGrowth,
        unit: 'bytes',
        target: { text: `<= ${MAX_E2E_RSS_GROWTH / 2 ** 20} MiB`, pass: r.rssGrowth <= MAX_E2E_RSS_GROWTH },
        note: `a ${(size / 2 ** 20).toFixed(0)} MiB file; the reader's chunks as above, the flow tables (source and correlator) bounded at 65536 flows`,
      },
    );
    const server = join(dir, 'server-side.pcap');
    const clients = join(dir, 'client-side.pcap');
    progress(`pcap: writing the transfers as two capture points see them`);
    writeTcpPcap(server, E2E_PACKETS, clients);
    progress('pcap: analyze of two capture points');
    const two = await analyzeThrough([server, clients]);
    const judged = Object.entries(two.verdicts)
      .map(([v, n]) => `${n} ${v}`)
      .join(', ');
    section.figures.push(
      {
        id: 'pcap.analyze2.rate',
        label: 'analyze of two capture points: packets/s',
        value: two.rate,
        unit: 'packets/s',
        target: { text: `>= ${END_TO_END / 1000}k/s`, pass: two.rate >= END_TO_END },
        note: `${two.packets} packets (both files), every one followed from one point to the other; ${two.events} events (${two.lost} lost); verdicts: ${judged}`,
      },
      {
        id: 'pcap.analyze2.rss',
        label: 'analyze of two capture points: memory growth',
        value: two.rssGrowth,
        unit: 'bytes',
        target: { text: `<= ${MAX_E2E_RSS_GROWTH / 2 ** 20} MiB`, pass: two.rssGrowth <= MAX_E2E_RSS_GROWTH },
        note: 'the flow tables as above, and at most 65536 packets awaited at the other point',
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return section;
}
