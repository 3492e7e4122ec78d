// `pmtu-watch export FILE --pcapng OUT`: the packet snapshots of a capture
// as pcapng (draft-ietf-opsawg-pcapng), which Wireshark and tshark read.
//
//   Section Header Block   the recording's host, kernel and tool
//   Interface Description  one per interface (netns/iface): those watched,
//                          then any other a packet was seen on; link type
//                          LINKTYPE_RAW (101): snapshots start at the IP header
//   Enhanced Packet Block  one per event with a snapshot: microsecond time,
//                          the snapshot (at most 256 bytes) with the packet's
//                          IP length as its original length, the direction
//                          when a tc hook saw it (epb_flags), and a comment
//                          naming the event and the flow's verdict
//
// Two passes over the capture: the first runs the correlator (a packet's
// comment carries its flow's verdict at the end of the capture), the second
// writes. Memory stays bounded either way.

import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';

import { Correlator, flowKey, subject } from '../correlate/correlator.js';
import type { CorrelatorEvent } from '../contract/event.js';
import { eventText, flowText, whereText } from '../contract/text.js';
import type { VerdictJson } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import { CaptureReader } from './reader.js';
import type { Header, Snapshot } from './types.js';

export const LINKTYPE_RAW = 101;

const BLOCK = { shb: 0x0a0d0d0a, idb: 0x00000001, epb: 0x00000006 } as const;
const OPT = { end: 0, comment: 1, shbHardware: 2, shbOs: 3, shbUserappl: 4, ifName: 2, ifDescription: 3, ifTsresol: 9, epbFlags: 2 } as const;

type Option = [code: number, value: Buffer];

function options(opts: Option[]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of opts) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(code, 0);
    h.writeUInt16LE(value.length, 2);
    parts.push(h, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt
  return Buffer.concat(parts);
}

function text(s: string): Buffer {
  // Option values are at most 65535 bytes.
  const b = Buffer.from(s, 'utf8');
  return b.length > 65535 ? b.subarray(0, 65535) : b;
}

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

export function sectionHeader(h: Header, file: string): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length not given
  const opts = options([
    [OPT.comment, text(`pmtu-watch capture ${file}, recorded on ${h.host} from ${new Date(h.startTime).toISOString()}`)],
    [OPT.shbHardware, text(h.host)],
    [OPT.shbOs, text(`Linux ${h.kernel}`)],
    [OPT.shbUserappl, text(h.tool)],
  ]);
  return block(BLOCK.shb, Buffer.concat([fixed, opts]));
}

export function interfaceDescription(netns: string, iface: string, mtu: number | undefined): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE_RAW, 0);
  fixed.writeUInt32LE(0, 4); // snaplen: no limit
  const opts = options([
    [OPT.ifName, text(`${netns}/${iface}`)],
    [OPT.ifDescription, text(`interface ${iface} in network namespace ${netns}${mtu ? `, mtu ${mtu}` : ''} (packets from the IP header on, as pmtu-watch's observer kept them)`)],
    [OPT.ifTsresol, Buffer.from([6])], // microseconds
  ]);
  return block(BLOCK.idb, Buffer.concat([fixed, opts]));
}

export function enhancedPacket(ifaceId: number, tsMs: number, data: Buffer, origLen: number, dir: string | null, comment: string): Buffer {
  const us = BigInt(Math.round(tsMs * 1000));
  const fixed = Buffer.alloc(20);
  fixed.writeUInt32LE(ifaceId, 0);
  fixed.writeUInt32LE(Number(us >> 32n), 4);
  fixed.writeUInt32LE(Number(us & 0xffffffffn), 8);
  fixed.writeUInt32LE(data.length, 12);
  fixed.writeUInt32LE(Math.max(origLen, data.length), 16);
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  const opts: Option[] = [[OPT.comment, text(comment)]];
  if (dir === 'ingress' || dir === 'egress') {
    const flags = Buffer.alloc(4);
    flags.writeUInt32LE(dir === 'ingress' ? 1 : 2, 0); // bits 0-1: inbound / outbound
    opts.push([OPT.epbFlags, flags]);
  }
  return block(BLOCK.epb, Buffer.concat([fixed, data, pad, options(opts)]));
}

/** The key of the flow an event counts for, as the correlator matches it. */
export function subjectKey(ev: CorrelatorEvent): string | undefined {
  const f = subject(ev);
  return f ? flowKey(f) : undefined;
}

export function packetComment(ev: CorrelatorEvent, v: VerdictJson | undefined): string {
  const lines = [`pmtu-watch event: ${ev.kind === 'route' ? `route lookup in ${ev.netns}` : eventText(ev)}`];
  if (v) {
    const where = whereText(v);
    lines.push(
      `flow verdict: ${v.verdict}${v.cause ? ` (${v.cause})` : ''} for ${flowText(v)}${where ? (v.where.next ? ` ${where}` : ` at ${where}`) : ''}${v.mtu ? ` mtu ${v.mtu}` : ''}`,
    );
    if (v.fix) lines.push(`fix: ${v.fix}`);
  } else {
    lines.push('flow verdict: none (no flow this packet counts for)');
  }
  return lines.join('\n');
}

class Output {
  private readonly fd: number;
  private pending: Buffer[] = [];
  private size = 0;
  bytes = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w', 0o644);
    } catch (e) {
      throw new PmtuError('PMTU_ERR_CAPTURE', `cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check the directory exists and is writable');
    }
  }

  write(b: Buffer): void {
    this.pending.push(b);
    this.size += b.length;
    if (this.size >= 64 * 1024) this.flush();
  }

  flush(): void {
    if (!this.size) return;
    const buf = Buffer.concat(this.pending, this.size);
    this.pending = [];
    this.size = 0;
    try {
      for (let o = 0; o < buf.length; ) o += writeSync(this.fd, buf, o, buf.length - o);
    } catch (e) {
      throw new PmtuError('PMTU_ERR_CAPTURE', `cannot write ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.bytes += buf.length;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface ExportResult {
  packets: number;
  interfaces: number;
  bytes: number;
  /** Where reading the capture stopped. */
  stop: string;
}

function mtuFrom(h: Header, start: Snapshot | undefined, netns: string, iface: string): number | undefined {
  return (
    h.interfaces.find((i) => i.netns === netns && i.name === iface)?.mtu ??
    start?.namespaces.find((n) => n.name === netns)?.links.find((l) => l.name === iface)?.mtu
  );
}

/** Writes the capture's packet snapshots to `out` as pcapng. Throws PmtuError. */
export function exportPcapng(file: string, out: string): ExportResult {
  // Pass 1: verdicts per flow, interfaces in order of appearance.
  const first = CaptureReader.open(file);
  const correlator = new Correlator();
  const ifaces = new Map<string, { netns: string; iface: string }>();
  for (const i of first.header.interfaces) ifaces.set(`${i.netns}\0${i.name}`, { netns: i.netns, iface: i.name });
  let start: Snapshot | undefined;
  try {
    for (const rec of first.records()) {
      if (rec.type === 'snapshot' && rec.snapshot.moment === 'start') start ??= rec.snapshot;
      if (rec.type !== 'event' || rec.event.kind === 'link') continue;
      correlator.push(rec.event);
      if (rec.snap.length && rec.event.kind !== 'route') {
        const key = `${rec.event.netns}\0${rec.event.iface}`;
        if (!ifaces.has(key) && ifaces.size < 65536) ifaces.set(key, { netns: rec.event.netns, iface: rec.event.iface });
      }
    }
  } finally {
    first.close();
  }
  const verdicts = new Map(correlator.verdicts().map((v) => [flowKey(v.flow), v]));
  const ids = new Map([...ifaces.keys()].map((k, i) => [k, i]));

  // Pass 2: write.
  const reader = CaptureReader.open(file);
  let output: Output | undefined;
  let packets = 0;
  let bytes = 0;
  try {
    output = new Output(out);
    output.write(sectionHeader(reader.header, file));
    for (const { netns, iface } of ifaces.values()) output.write(interfaceDescription(netns, iface, mtuFrom(reader.header, start, netns, iface)));
    for (const rec of reader.records()) {
      if (rec.type !== 'event' || !rec.snap.length || rec.event.kind === 'route' || rec.event.kind === 'link') continue;
      const ev = rec.event;
      const id = ids.get(`${ev.netns}\0${ev.iface}`);
      if (id === undefined) continue;
      const key = subjectKey(ev);
      output.write(enhancedPacket(id, ev.ts, rec.snap, ev.len ?? rec.snap.length, ev.dir, packetComment(ev, key ? verdicts.get(key) : undefined)));
      packets++;
    }
    output.flush();
    bytes = output.bytes;
  } catch (e) {
    output?.close();
    output = undefined;
    try {
      unlinkSync(out); // no half-written export left behind
    } catch {
      // not created
    }
    throw e;
  } finally {
    output?.close();
    reader.close();
  }
  return { packets, interfaces: ifaces.size, bytes, stop: reader.describeStop() };
}
