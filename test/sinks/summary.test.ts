import { describe, expect, it } from 'vitest';

import type { StatsJson } from '../../src/contract/stats.js';
import { flowsSeen } from '../../src/sinks/summary.js';

const stats = (correlated: number, kernel?: number): StatsJson => ({
  type: 'stats',
  elapsedS: 1,
  interfaces: 1,
  events: {},
  losses: { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 },
  flows: { flows: correlated, evicted: 0, expired: 0, unmatched: 0, events: 0 },
  ...(kernel === undefined ? {} : { traffic: { flows: kernel, syns: 0, synAcks: 0, ptbs: 0, byHook: [] } }),
});

describe('flowsSeen', () => {
  it("counts the kernel's healthy flows, which reach no correlator", () => {
    expect(flowsSeen(stats(3, 20_000))).toBe(20_000);
  });
  it("is the correlator's count for a capture from before 0.2, or when tracepoints saw flows no watched hook did", () => {
    expect(flowsSeen(stats(3))).toBe(3);
    expect(flowsSeen(stats(3, 1))).toBe(3);
  });
});
