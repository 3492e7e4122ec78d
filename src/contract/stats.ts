// The stats lines that leave the process (docs/json-contract.md): once when
// the hooks are in place, every few seconds, and at the end; captures record them.

import type { CorrelatorStats } from '../correlate/correlator.js';
import type { ObserverLosses } from '../observer/index.js';

export interface StatsJson {
  type: 'stats';
  elapsedS: number;
  interfaces: number;
  events: Record<string, number>;
  losses: ObserverLosses;
  flows: CorrelatorStats;
}
