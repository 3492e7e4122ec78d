// Reads a capture file (format.ts) record by record, in bounded memory: one
// record at a time, each at most MAX_RECORD bytes, through a 64 KiB window.
//
// A file cut off mid-write (kill -9, a full disk, a crash that left zeros)
// reads back to its last whole record, and `state` says where it stopped.
// Anything else that is wrong — not a capture, a version this one does not
// read, a length over the bound, a checksum that does not match, a record
// that does not decode — is a PmtuError (PMTU_ERR_CAPTURE) with one line
// saying what and where.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import type protobuf from 'protobufjs';

import { PmtuError } from '../errors.js';
import { FORMAT_VERSION, MAGIC, MAX_RECORD, PREAMBLE_SIZE, crc32, readVarint } from './format.js';
import { eventFromMsg, SCHEMA, statsFromMsg, types, UnknownValue, verdictFromMsg, type EventMsg, type StatsMsg, type VerdictMsg } from '../contract/proto.js';
import type { CaptureRecord, End, Header, Moment, Snapshot } from './types.js';

/** Random access to the bytes: a file, or a buffer in tests. */
interface Source {
  /** Up to len bytes from pos (fewer at the end). */
  read(pos: number, len: number): Buffer;
  size(): number;
  close(): void;
}

const WINDOW = 64 * 1024;

/** Records other than the header and snapshots are small (an event is a few hundred bytes). */
export const MAX_SMALL_RECORD = 64 * 1024;
/** Record kinds by their field number in pmtu.v1.Record (the first byte of a record: writers write one field). */
const SMALL_KINDS: Record<number, string> = { 2: 'an event', 3: 'a verdict', 4: 'a stats', 6: 'a note', 7: 'an end' };

function fileSource(path: string): Source {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new PmtuError('PMTU_ERR_CAPTURE', `cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'is the path right?');
  }
  let win = Buffer.alloc(0);
  let winPos = 0;
  return {
    read(pos, len) {
      if (pos >= winPos && pos + len <= winPos + win.length) return win.subarray(pos - winPos, pos - winPos + len);
      const buf = Buffer.allocUnsafe(Math.max(len, WINDOW));
      let got: number;
      try {
        got = readSync(fd, buf, 0, buf.length, pos);
      } catch (e) {
        throw new PmtuError('PMTU_ERR_CAPTURE', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      win = buf.subarray(0, got);
      winPos = pos;
      return win.subarray(0, Math.min(len, got));
    },
    size: () => fstatSync(fd).size,
    close: () => closeSync(fd),
  };
}

function bufferSource(buf: Buffer): Source {
  return { read: (pos, len) => buf.subarray(pos, pos + len), size: () => buf.length, close: () => {} };
}

/**
 * How reading went. `ending`: 'end' the End record (the recording finished);
 * 'eof' the file ends after a whole record but has no End (the recorder was
 * killed between writes); 'cut' part of a record follows the last whole one
 * (killed or out of space mid-write); 'zeros' zero bytes follow it (a crash
 * before the data reached the disk); 'reading' not at the end yet.
 */
export interface ReadState {
  /** Whole records read, the header included. */
  records: number;
  /** Byte offset just past the last whole record. */
  offset: number;
  ending: 'reading' | 'end' | 'eof' | 'cut' | 'zeros';
  /** Bytes after `offset` that are no whole record. */
  trailing: number;
  /** Records skipped: a kind or value this version does not know (a newer pmtu.v1 wrote them). */
  skipped: number;
}

const MOMENTS: Record<number, Moment> = { 1: 'start', 2: 'end' };

type Parsed = { kind: 'record'; body: string; msg: Record<string, unknown>; size: number } | { kind: 'stop'; ending: 'eof' | 'cut' | 'zeros' };

export class CaptureReader {
  readonly header: Header;
  readonly version: number;
  readonly state: ReadState = { records: 0, offset: 0, ending: 'reading', trailing: 0, skipped: 0 };
  private iterating = false;

  private constructor(
    private readonly src: Source,
    readonly name: string,
  ) {
    try {
      this.version = this.readPreamble();
      this.state.offset = PREAMBLE_SIZE;
      const first = this.parse(PREAMBLE_SIZE);
      if (first.kind === 'stop') {
        throw this.error(`cut off inside its header (${this.src.size()} bytes)`, 'nothing was recorded; record again');
      }
      if (first.body !== 'header') throw this.error(`its first record (byte ${PREAMBLE_SIZE}) is a ${first.body}, not the header`);
      this.header = headerFrom(first.msg);
      if (this.header.schema !== SCHEMA) {
        throw this.error(`its schema is "${this.header.schema}"; this pmtu-watch reads ${SCHEMA}`, 'read it with the pmtu-watch that recorded it');
      }
      this.state.records = 1;
      this.state.offset += first.size;
    } catch (e) {
      src.close();
      throw e;
    }
  }

  static open(path: string): CaptureReader {
    return new CaptureReader(fileSource(path), path);
  }

  static fromBuffer(buf: Buffer, name = 'the capture'): CaptureReader {
    return new CaptureReader(bufferSource(buf), name);
  }

  private error(what: string, hint = ''): PmtuError {
    return new PmtuError('PMTU_ERR_CAPTURE', `${this.name}: ${what}`, hint);
  }

  private corrupt(pos: number, what: string): PmtuError {
    const n = this.state.records;
    return this.error(`corrupt at byte ${pos} (record ${n + 1}): ${what}`, `the ${n} record${n === 1 ? '' : 's'} before it are whole; the file was damaged after it was written`);
  }

  private readPreamble(): number {
    const b = this.src.read(0, PREAMBLE_SIZE);
    if (b.length === 0) throw this.error('empty file, not a capture');
    const m = b.subarray(0, MAGIC.length);
    if (!MAGIC.subarray(0, m.length).equals(m)) {
      throw this.error('not a pmtu-watch capture (no capture magic at the start)', 'record one with pmtu-watch record -o FILE');
    }
    if (b.length < PREAMBLE_SIZE) throw this.error(`cut off inside its header (${b.length} bytes)`, 'nothing was recorded; record again');
    const version = b.readUInt16LE(12);
    const flags = b.readUInt16LE(14);
    if (version === 0) throw this.error('capture format 0 does not exist: the file is corrupt');
    if (version > FORMAT_VERSION) {
      throw this.error(`capture format ${version} is newer than this pmtu-watch reads (${FORMAT_VERSION})`, 'read it with a newer pmtu-watch');
    }
    if (flags !== 0) throw this.error(`unknown capture flags 0x${flags.toString(16)}`, 'read it with a newer pmtu-watch');
    return version;
  }

  /** The record at pos, or why the file stops there. */
  private parse(pos: number): Parsed {
    const head = this.src.read(pos, 5);
    if (head.length === 0) return { kind: 'stop', ending: 'eof' };
    const len = readVarint(head, 0);
    if (len === 'short') return { kind: 'stop', ending: this.zerosFrom(pos) ? 'zeros' : 'cut' };
    if (len === 'bad') throw this.corrupt(pos, 'a record length of more than 5 bytes');
    if (len.value === 0) {
      if (this.zerosFrom(pos)) return { kind: 'stop', ending: 'zeros' };
      throw this.corrupt(pos, 'a record of length 0');
    }
    if (len.value > MAX_RECORD) throw this.corrupt(pos, `a record length of ${len.value} bytes (at most ${MAX_RECORD})`);
    const size = len.size + len.value + 4;
    const rec = this.src.read(pos, size);
    if (rec.length < size) return { kind: 'stop', ending: 'cut' };
    const body = rec.subarray(len.size, len.size + len.value);
    if (crc32(body) !== rec.readUInt32LE(len.size + len.value)) throw this.corrupt(pos, 'checksum mismatch');
    // Decoded protobuf takes tens of times its size (a packed field of a million
    // flags is a million array entries): only snapshots and the header may be big.
    const kind = SMALL_KINDS[body[0]! >> 3];
    if (kind && len.value > MAX_SMALL_RECORD) throw this.corrupt(pos, `${kind} record of ${len.value} bytes (at most ${MAX_SMALL_RECORD})`);
    let msg: Record<string, unknown>;
    try {
      msg = types().Record.decode(body) as unknown as Record<string, unknown>;
    } catch (e) {
      throw this.corrupt(pos, `undecodable record (${(e as Error).message})`);
    }
    return { kind: 'record', body: typeof msg.body === 'string' ? msg.body : '', msg, size };
  }

  /** True when everything from pos to the end is zero bytes (read in windows: bounded memory). */
  private zerosFrom(pos: number): boolean {
    const end = this.src.size();
    for (let p = pos; p < end; p += WINDOW) {
      const b = this.src.read(p, Math.min(WINDOW, end - p));
      if (b.length === 0) break;
      for (const x of b) if (x !== 0) return false;
    }
    return true;
  }

  /**
   * The records after the header, in file order; stops at the End record or
   * the last whole one. Throws PmtuError on corruption. Once only.
   */
  *records(): Generator<CaptureRecord> {
    if (this.iterating) throw new PmtuError('PMTU_ERR_STATE', `${this.name} is read once`);
    this.iterating = true;
    const st = this.state;
    for (;;) {
      const pos = st.offset;
      const p = this.parse(pos);
      if (p.kind === 'stop') {
        st.ending = p.ending;
        st.trailing = this.src.size() - pos;
        return;
      }
      st.records++;
      st.offset += p.size;
      const rec = this.convert(p, pos);
      if (!rec) {
        st.skipped++;
        continue;
      }
      if (rec.type === 'end') {
        st.ending = 'end';
        st.trailing = this.src.size() - st.offset;
      }
      yield rec;
      if (rec.type === 'end') return;
    }
  }

  private convert(p: Extract<Parsed, { kind: 'record' }>, offset: number): CaptureRecord | undefined {
    const m = p.msg[p.body] as Record<string, unknown>;
    try {
      switch (p.body) {
        case 'event': {
          const { event, snap } = eventFromMsg(m as unknown as EventMsg);
          return { type: 'event', offset, event, snap };
        }
        case 'verdict':
          return { type: 'verdict', offset, verdict: verdictFromMsg(m as unknown as VerdictMsg) };
        case 'stats':
          return { type: 'stats', offset, ...statsFromMsg(m as unknown as StatsMsg) };
        case 'snapshot':
          return { type: 'snapshot', offset, snapshot: snapshotFrom(m) };
        case 'note': {
          const o = plain('Record', p.msg).note as { time: number; text: string };
          return { type: 'note', offset, time: o.time, text: o.text };
        }
        case 'end':
          return { type: 'end', offset, end: plain('Record', p.msg).end as End };
        case 'header':
          throw this.corrupt(offset, 'a second header');
        default:
          return undefined; // a kind of record from a newer pmtu.v1
      }
    } catch (e) {
      if (e instanceof UnknownValue) return undefined;
      throw e;
    }
  }

  /** Where and why reading stopped, in one sentence. */
  describeStop(): string {
    const st = this.state;
    const at = `${st.records} record${st.records === 1 ? '' : 's'}, ${st.offset} bytes`;
    const skipped = st.skipped ? `; ${st.skipped} of a kind this version does not know skipped` : '';
    switch (st.ending) {
      case 'end':
        return `read ${at} to the end of the recording${st.trailing ? ` (${st.trailing} bytes after it ignored)` : ''}${skipped}`;
      case 'eof':
        return `read ${at}: the recording did not finish (no end record), everything written reads back${skipped}`;
      case 'cut':
        return `cut off mid-record: read ${at}, up to the last whole record; ${st.trailing} bytes after it are part of one${skipped}`;
      case 'zeros':
        return `cut off: read ${at}, up to the last whole record; ${st.trailing} zero bytes follow it (data lost in a crash)${skipped}`;
      default:
        return `read ${at} so far${skipped}`;
    }
  }

  close(): void {
    this.src.close();
  }
}

/** A decoded message as plain data: 64-bit numbers as numbers, defaults filled in. */
function plain(type: 'Record' | 'Header' | 'Snapshot', msg: unknown): Record<string, unknown> {
  const t = types()[type];
  return t.toObject(msg as protobuf.Message, { longs: Number, enums: Number, defaults: true, arrays: true }) as Record<string, unknown>;
}

function headerFrom(rec: Record<string, unknown>): Header {
  const h = plain('Header', rec.header) as unknown as Header;
  h.selection ??= { netns: [], allNetns: false, ifaces: [], sizeMin: 0, durationS: 0 };
  return h;
}

function snapshotFrom(m: unknown): Snapshot {
  const s = plain('Snapshot', m) as unknown as Omit<Snapshot, 'moment'> & { moment: number };
  const moment = MOMENTS[s.moment];
  if (!moment) throw new UnknownValue(`snapshot moment ${s.moment}`);
  return { ...s, moment };
}
