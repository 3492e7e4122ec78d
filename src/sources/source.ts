// Where a session's events come from: the kernel (sources/kernel.ts), a
// pmtu-watch capture (sources/capture.ts), other tools' pcap and pcapng files (sources/pcap.ts).

import type { TrafficJson } from '../contract/stats.js';
import type { ObserverLosses } from '../contract/stats.js';
import type { RouteLookups } from '../observer/route-probe.js';
import type { Session } from '../session.js';

export interface Source {
  /** True for a source that runs until stopped and whose stats the session takes itself (the kernel). */
  readonly live: boolean;
  /** Route lookups after a PTB reaches a host: only when watching the kernel (a capture has its lookups recorded). */
  readonly routes?: RouteLookups;
  /** Hands the session its events from now on (the kernel's as they come, a capture's as run() reads them). */
  attach(session: Session): void;
  /** Resolves when the source has nothing more or `stop` resolved, whichever is first. */
  run(stop: Promise<void>): Promise<void>;
  /** The source's time (epoch ms): the wall clock for the kernel, the time replayed up to for a capture. */
  now(): number;
  /** Interfaces watched (as now, or as the capture last recorded). */
  interfaces(): number;
  /** What the source lost (the observer's counters, or the capture's last recorded ones). */
  losses(): ObserverLosses;
  /** Healthy traffic as the kernel counted it, when the source knows it. */
  traffic?(): TrafficJson | undefined;
  close(): void;
}
