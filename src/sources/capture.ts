// A pmtu-watch capture as a session's source: its events in order (each with
// its packet), paced by their own timestamps divided by `speed` (0: as fast
// as the sinks take them), its recorded stats and other records for the
// sinks that want them. The capture's time is the session's clock.

import { setTimeout as delay } from 'node:timers/promises';

import { CaptureReader } from '../capture/reader.js';
import type { CaptureRecord } from '../capture/types.js';
import type { StatsJson, TrafficJson } from '../contract/stats.js';
import type { ObserverLosses } from '../contract/stats.js';
import type { Session } from '../session.js';
import type { Source } from './source.js';

export interface CaptureSourceOptions {
  /** 1 = as recorded, 2 = twice as fast, 0 = as fast as possible (the default). */
  speed?: number;
  /** The wall clock, for pacing. */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Never wait longer than this between two events, whatever the capture's gap. */
const MAX_WAIT_MS = 60_000;

const NO_LOSSES: ObserverLosses = { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 };

export class CaptureSource implements Source {
  readonly live = false;
  private session: Session | undefined;
  private readonly speed: number;
  private readonly wall: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Capture time of the last event handed over. */
  private at = 0;
  /** Pacing: the first event's capture time and when it was handed over. */
  private base: { ts: number; wall: number } | undefined;
  private last: StatsJson | undefined;

  constructor(
    readonly reader: CaptureReader,
    opts: CaptureSourceOptions = {},
  ) {
    this.speed = opts.speed ?? 0;
    this.wall = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }).catch(() => {}));
  }

  static open(file: string, opts: CaptureSourceOptions = {}): CaptureSource {
    return new CaptureSource(CaptureReader.open(file), opts);
  }

  attach(session: Session): void {
    this.session = session;
  }

  /** Every record at once, synchronously (a digest). Throws what the reader throws. */
  playAll(): void {
    for (const rec of this.reader.records()) this.hand(rec);
  }

  async run(stop: Promise<void>): Promise<void> {
    let stopped = false;
    const abort = new AbortController();
    void stop.then(() => {
      stopped = true;
      abort.abort();
    });
    for (const rec of this.reader.records()) {
      if (stopped) break;
      if (rec.type === 'event' && this.speed > 0) {
        this.base ??= { ts: rec.event.ts, wall: this.wall() };
        const wait = Math.min(this.base.wall + (rec.event.ts - this.base.ts) / this.speed - this.wall(), MAX_WAIT_MS);
        if (wait > 0) await this.sleep(wait, abort.signal);
        if (stopped) break;
      } else if (this.speed === 0) {
        // Unpaced, a file can wait for a slow reader instead of making it drop lines.
        const ready = this.session?.ready();
        if (ready) await Promise.race([ready, stop]);
        if (stopped) break;
      }
      this.hand(rec);
    }
  }

  private hand(rec: CaptureRecord): void {
    const s = this.session;
    if (!s) throw new Error('CaptureSource: no session attached');
    switch (rec.type) {
      case 'event':
        this.at = rec.event.ts;
        s.tick(rec.event.ts);
        s.take(rec.event, rec.snap.length ? rec.snap : undefined);
        break;
      case 'stats':
        this.last = rec.stats;
        s.recordedStats(rec.stats);
        break;
      default:
        s.recorded(rec);
    }
  }

  /** The time replayed up to: paced, it moves on between events as the wall clock does (times speed). */
  now(): number {
    if (this.speed > 0 && this.base) return Math.max(this.at, this.base.ts + (this.wall() - this.base.wall) * this.speed);
    return this.at;
  }

  interfaces(): number {
    return this.last?.interfaces ?? this.reader.header.interfaces.length;
  }

  /** As the recording last counted them. */
  losses(): ObserverLosses {
    const l = this.last?.losses;
    if (!l) return { ...NO_LOSSES };
    return { ringbufFull: l.ringbufFull, flowTableFull: l.flowTableFull, queueFull: l.queueFull, delivered: l.delivered, unknownRecords: l.unknownRecords };
  }

  /** As the recording last counted it. */
  traffic(): TrafficJson | undefined {
    return this.last?.traffic;
  }

  /** Where the reading stopped, in a person's words. */
  describeStop(): string {
    return this.reader.describeStop();
  }

  close(): void {
    this.reader.close();
  }
}
