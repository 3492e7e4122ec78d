// Where a session's stream goes: JSON lines, settled text, the screen, the
// feed, a capture file, a digest. A sink takes what it wants of the stream
// and never makes the session wait: one that cannot keep up drops what it
// cannot hold, counts it, and says so (behind()).

import type { CaptureRecord } from '../capture/types.js';
import type { LinkEventJson, StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';
import type { PmtuError } from '../errors.js';

export interface Sink {
  /**
   * Every event, the kernel's and the route lookups'; `snap` is the packet
   * from its network header on, when one was kept and a sink of the session
   * reads packets (`packets`: a kernel event's packet is not cut out for nobody).
   */
  event?(ev: StreamEvent, snap?: Buffer): void;
  /** A watched interface changed: to a sink that says so whether or not it takes every event (else to event()). */
  link?(ev: LinkEventJson): void;
  /** Set by a sink that reads the events' packets (`snap`). */
  readonly packets?: boolean;
  /** A flow's verdict changed. */
  verdict?(v: VerdictJson): void;
  /** A stats line: the session's own while watching (at the start, every period, at the end), a capture's recorded ones on replay. */
  stats?(s: StatsJson): void;
  /** A capture's records that are not events or stats (recorded verdicts, snapshots, notes, the end), in order. */
  recorded?(rec: Exclude<CaptureRecord, { type: 'event' | 'stats' }>): void;
  /** Something the source could not do; the session goes on. */
  warning?(text: string): void;
  /** A problem while running (a bad batch from the addon); the session goes on. */
  error?(err: PmtuError): void;
  /** The source's time moved on (epoch ms): what waits for time may go. */
  tick?(now: number): void;
  /** The source ended or was stopped: what still waits goes now. */
  end?(): void;
  /** What this sink could not take and dropped so far (lines, messages). */
  behind?(): number;
  /**
   * Set when a source that can pause (a capture, unpaced) had better wait:
   * resolves once the sink is ready again. The kernel never waits; it drops.
   */
  ready?(): Promise<void> | undefined;
}
