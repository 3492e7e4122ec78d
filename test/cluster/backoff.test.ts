import { describe, expect, it } from 'vitest';

import { Backoff } from '../../src/cluster/backoff.js';

describe('Backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const b = new Backoff({ initialMs: 500, maxMs: 8000, jitter: 0 });
    expect(Array.from({ length: 7 }, () => b.next(0))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('spreads each delay by at most the jitter, never past the cap', () => {
    let r = 0;
    const seq = [0, 1, 0.5];
    const b = new Backoff({ initialMs: 1000, maxMs: 1500, jitter: 0.2, random: () => seq[r++ % seq.length]! });
    expect(b.next(0)).toBe(800); // -20%
    expect(b.next(0)).toBe(1500); // 2000 capped, +20% capped
    expect(b.next(0)).toBe(1500);
  });

  it('starts over once a connection held for stableMs, not after a short one', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 10_000, jitter: 0, stableMs: 10_000 });
    b.next(0);
    b.next(0);
    b.up(1000);
    expect(b.next(2000)).toBe(400); // up 1 s only: keeps growing
    b.up(3000);
    expect(b.next(13_000)).toBe(100); // up 10 s: back to the start
  });
});
