// The stats lines that leave the process (docs/json-contract.md): once when
// the hooks are in place, every few seconds, and at the end; captures record them.

import type { CorrelatorStats } from '../correlate/correlator.js';
import type { LossCounters } from '../../native/index.js';

/** What the observer lost: the addon's counters and its own. */
export interface ObserverLosses extends LossCounters {
  /** The addon's count, plus events an async iterator's full queue dropped. */
  queueFull: number;
  /** Records of a kind this version does not know. */
  unknownRecords: number;
}

/** What the observer lost, and what the session's own output could not take. */
export interface LossesJson extends ObserverLosses {
  /**
   * Lines standard output's reader did not take in time (live, serve and
   * replay): dropped so that the session never waits for a reader. Absent in
   * captures (a recording writes no lines).
   */
  sinkBehind?: number;
}

export interface StatsJson {
  type: 'stats';
  elapsedS: number;
  interfaces: number;
  events: Record<string, number>;
  losses: LossesJson;
  flows: CorrelatorStats;
  /** Healthy traffic as the kernel counted it (live sessions; absent in older captures). */
  traffic?: TrafficJson;
}

/** One hook's (namespace and interface) counts since the observer started. */
export interface HookTrafficJson {
  netns: string;
  iface: string;
  /** Flows the kernel's flow table first saw at this hook. */
  flows: number;
  syns: number;
  synAcks: number;
  ptbs: number;
}

/** The kernel's per-CPU counters, summed: what healthy flows cost instead of events. */
export interface TrafficJson {
  flows: number;
  syns: number;
  synAcks: number;
  ptbs: number;
  byHook: HookTrafficJson[];
}
