// Writes a capture file (format.ts): the preamble and header at once, then
// records as they come. Records are buffered for at most one flush interval
// (the recorder flushes every 100 ms) or 64 KiB, and written with plain
// write(2): whatever reached the file is a prefix of the stream, so a kill
// or a full disk costs at most the unflushed tail, and readers keep every
// whole record before it.

import { closeSync, openSync, writeSync } from 'node:fs';

import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import { frame, MAX_RECORD, preamble } from './format.js';
import { eventMsg, statsMsg, types, verdictMsg } from '../contract/proto.js';
import type { End, Header, Snapshot } from './types.js';

/** Where the bytes go: a file, or (in tests) anything that can fail like one. */
export interface Sink {
  /** Writes all of buf or throws. */
  write(buf: Buffer): void;
  close(): void;
}

export function fileSink(path: string): Sink {
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o644);
  } catch (e) {
    throw new PmtuError('PMTU_ERR_CAPTURE', `cannot create ${path}: ${(e as Error).message}`, 'check the directory exists and is writable');
  }
  return {
    write(buf) {
      for (let o = 0; o < buf.length; ) o += writeSync(fd, buf, o, buf.length - o);
    },
    close() {
      closeSync(fd);
    },
  };
}

const FLUSH_BYTES = 64 * 1024;
const MOMENTS = { start: 1, end: 2 } as const;

export class CaptureWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingRecords = 0;
  private closed = false;
  /** Records the sink took whole. */
  recordsWritten = 0;
  /** Bytes handed to the sink (and in the file, once it said so). */
  written = 0;
  /** Records, the header included. */
  records = 0;
  events = 0;
  verdicts = 0;
  /** Records that did not reach the file whole: those of the failed write and any after it. */
  dropped = 0;
  /** The first write failure; records after it are counted in `dropped`. */
  error: PmtuError | undefined;

  constructor(
    private readonly sink: Sink,
    header: Header,
    private readonly name = 'the capture',
  ) {
    this.push(preamble(), false);
    this.record({ header });
    this.flush();
    if (this.error) throw this.error;
  }

  static create(path: string, header: Header): CaptureWriter {
    const sink = fileSink(path);
    try {
      return new CaptureWriter(sink, header, path);
    } catch (e) {
      sink.close();
      throw e;
    }
  }

  event(ev: StreamEvent, snap?: Uint8Array): void {
    if (this.record({ event: eventMsg(ev, snap) })) this.events++;
  }

  verdict(v: VerdictJson): void {
    if (this.record({ verdict: verdictMsg(v) })) this.verdicts++;
  }

  stats(s: StatsJson, time = Date.now()): void {
    this.record({ stats: statsMsg(s, time) });
  }

  snapshot(s: Snapshot): void {
    this.record({ snapshot: { ...s, moment: MOMENTS[s.moment] } });
  }

  note(text: string, time = Date.now()): void {
    this.record({ note: { time, text } });
  }

  /** The End record, flushed, and the file closed. */
  end(reason: string, time = Date.now()): void {
    const end: End = { time, reason, events: this.events, verdicts: this.verdicts, records: this.records };
    this.record({ end });
    this.close();
  }

  /** Bytes so far, including what is still buffered. */
  get bytes(): number {
    return this.written + this.pendingBytes;
  }

  private record(body: Record<string, unknown>): boolean {
    if (this.closed) throw new PmtuError('PMTU_ERR_STATE', `${this.name} is closed`);
    const message = types().Record.encode(body).finish();
    if (message.length > MAX_RECORD) {
      throw new PmtuError('PMTU_ERR_CAPTURE', `a ${Object.keys(body)[0]} record of ${message.length} bytes is over the ${MAX_RECORD}-byte limit`);
    }
    return this.push(frame(message), true);
  }

  private push(buf: Buffer, isRecord: boolean): boolean {
    if (this.error) {
      if (isRecord) this.dropped++;
      return false;
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (isRecord) {
      this.records++;
      this.pendingRecords++;
    }
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    return true;
  }

  /** Writes what is buffered. A failure is kept in `error`, never thrown. */
  flush(): void {
    if (this.pendingBytes === 0 || this.error) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const records = this.pendingRecords;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingRecords = 0;
    try {
      this.sink.write(buf);
      this.written += buf.length;
      this.recordsWritten += records;
    } catch (e) {
      this.dropped += records; // at most part of them reached the file
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      this.error = new PmtuError(
        'PMTU_ERR_CAPTURE',
        `cannot write ${this.name}: ${why}`,
        `the file keeps the ${this.recordsWritten} records written before, and reads back; free space and record again`,
      );
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      this.sink.close();
    } catch (e) {
      this.error ??= new PmtuError('PMTU_ERR_CAPTURE', `cannot close ${this.name}: ${(e as Error).message}`);
    }
  }
}
