// Captures built in memory from the recorded event streams
// (test/fixtures/streams), with packet snapshots made for the events that
// carry a packet, so capture tests run without root.

import { readFileSync } from 'node:fs';

import { Correlator } from '../../src/correlate/correlator.js';
import type { CorrelatorEvent } from '../../src/contract/event.js';
import type { StatsJson } from '../../src/contract/stats.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import type { Sink } from '../../src/capture/writer.js';
import { CaptureWriter } from '../../src/capture/writer.js';
import type { Header, Snapshot } from '../../src/capture/types.js';
import { icmpFragNeeded, ipv4, PROTO } from './packets.js';

export function stream(name: string): CorrelatorEvent[] {
  return readFileSync(new URL(`../fixtures/streams/${name}.jsonl`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CorrelatorEvent);
}

export interface MemorySink extends Sink {
  chunks: Buffer[];
  closed: boolean;
  bytes(): Buffer;
}

/** A sink in memory; failAfter: bytes it takes before failing like a full disk (the rest of that write is lost). */
export function memorySink(failAfter = Infinity): MemorySink {
  const sink: MemorySink = {
    chunks: [],
    closed: false,
    write(buf) {
      const have = sink.chunks.reduce((n, c) => n + c.length, 0);
      if (have + buf.length > failAfter) {
        sink.chunks.push(buf.subarray(0, Math.max(0, failAfter - have)));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      sink.chunks.push(Buffer.from(buf));
    },
    close() {
      sink.closed = true;
    },
    bytes: () => Buffer.concat(sink.chunks),
  };
  return sink;
}

export const HEADER: Header = {
  schema: 'pmtu.v1',
  tool: 'pmtu-watch test',
  host: 'testhost',
  kernel: '6.18.0 #1 SMP',
  startTime: 1795392355000.5,
  namespaces: ['c', 'r1'],
  interfaces: [
    { netns: 'c', name: 'to-r1', ifindex: 2, mtu: 9000 },
    { netns: 'r1', name: 'to-c', ifindex: 2, mtu: 9000 },
  ],
  selection: { netns: ['c', 'r1'], allNetns: false, ifaces: [], sizeMin: 0, durationS: 0 },
};

export function snapshot(moment: 'start' | 'end', time: number): Snapshot {
  return {
    moment,
    time,
    namespaces: [
      {
        name: 'c',
        inode: 4026532999,
        links: [
          { ifindex: 1, name: 'lo', mtu: 65536, up: true },
          { ifindex: 2, name: 'to-r1', mtu: 9000, up: true },
        ],
        sysctls: [
          { name: 'net.ipv4.conf.all.rp_filter', value: '1' },
          { name: 'net.ipv4.tcp_mtu_probing', value: '0' },
        ],
        routes: [
          { dst: '198.18.0.0/15', gateway: '198.18.1.1', dev: 'to-r1', cached: false, family: 4 },
          ...(moment === 'end' ? [{ dst: '198.18.3.2', gateway: '198.18.1.1', dev: 'to-r1', mtu: 1500, expires: 590, cached: true, family: 4 as const }] : []),
        ],
        lookups: moment === 'end' ? [{ dst: '198.18.3.2', found: true, mtu: 0, expires: 0, dev: 'to-r1' }] : [],
        problems: [],
      },
    ],
  };
}

/** The packet a PTB event describes: an ICMP frag-needed quoting its inner flow (IPv4 only). */
export function ptbSnap(ev: CorrelatorEvent): Buffer | undefined {
  if (ev.kind !== 'ptb' && !(ev.kind === 'drop' && ev.flags.includes('icmp-error'))) return undefined;
  if (!ev.src || !ev.dst || ev.src.includes(':') || !ev.inner || ev.inner.src.includes(':') || !ev.mtu) return undefined;
  const i = ev.inner;
  const proto = typeof i.proto === 'number' ? i.proto : (PROTO[i.proto as keyof typeof PROTO] ?? 0);
  const ports = Buffer.alloc(8);
  ports.writeUInt16BE(i.sport, 0);
  ports.writeUInt16BE(i.dport, 2);
  const quoted = ipv4({ src: i.src, dst: i.dst, proto, payload: ports, df: true, totalLength: i.len });
  return ipv4({ src: ev.src, dst: ev.dst, proto: PROTO.icmp, payload: icmpFragNeeded(ev.mtu, quoted) }).subarray(0, 128);
}

export function statsAt(events: number): StatsJson {
  return {
    type: 'stats',
    elapsedS: 1.5,
    interfaces: 2,
    events: { size: events, ptb: 1 },
    losses: { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: events, unknownRecords: 0 },
    flows: { flows: 1, evicted: 0, expired: 0, unmatched: 0, events },
  };
}

export interface Built {
  bytes: Buffer;
  events: CorrelatorEvent[];
  snaps: (Buffer | undefined)[];
  verdicts: VerdictJson[];
}

/** A whole capture of a stream: header, start snapshot, events and verdicts as live made them, stats, end snapshot, end. */
export function buildCapture(events: CorrelatorEvent[], opts: { end?: boolean; sink?: MemorySink } = {}): Built {
  const sink = opts.sink ?? memorySink();
  const w = new CaptureWriter(sink, HEADER);
  w.snapshot(snapshot('start', HEADER.startTime));
  w.stats(statsAt(0), HEADER.startTime);
  const c = new Correlator();
  const verdicts: VerdictJson[] = [];
  const snaps = events.map(ptbSnap);
  events.forEach((ev, i) => {
    w.event(ev, snaps[i]);
    for (const v of c.push(ev)) {
      verdicts.push(v);
      w.verdict(v);
    }
  });
  const last = events.at(-1)?.ts ?? HEADER.startTime;
  w.stats(statsAt(events.length), last);
  w.note('a warning', last);
  w.snapshot(snapshot('end', last));
  if (opts.end ?? true) w.end('duration', last);
  else w.close();
  return { bytes: sink.bytes(), events, snaps, verdicts };
}
