import { describe, expect, it } from 'vitest';

import { RecencyMap } from '../../src/correlate/recency.js';

describe('RecencyMap', () => {
  it('orders entries by last set or touch, evicts the least recent, and iterates oldest first', () => {
    const m = new RecencyMap<number>();
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    expect(m.touch('a')).toBe(true);
    expect(m.touch('zz')).toBe(false);
    m.set('b', 20); // setting again makes it the newest
    expect([...m.oldestFirst()]).toEqual([
      ['c', 3],
      ['a', 1],
      ['b', 20],
    ]);
    expect(m.oldestEntry()).toEqual(['c', 3]);
    expect(m.peek('c')).toBe(3);
    expect(m.oldestEntry()).toEqual(['c', 3]); // peek does not touch
    expect(m.makeRoom(3)).toBe(1);
    expect([...m.oldestFirst()].map(([k]) => k)).toEqual(['a', 'b']);
    expect(m.makeRoom(5)).toBe(0);
    expect([...m.values()].sort()).toEqual([1, 20]);
  });

  it('getAndTouch returns the value and makes it the most recent; undefined for none', () => {
    const m = new RecencyMap<number>();
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    expect(m.getAndTouch('a')).toBe(1);
    expect(m.getAndTouch('a')).toBe(1); // already the newest
    expect(m.getAndTouch('zz')).toBeUndefined();
    expect([...m.oldestFirst()].map(([k]) => k)).toEqual(['b', 'c', 'a']);
    expect(m.makeRoom(3)).toBe(1);
    expect([...m.oldestFirst()].map(([k]) => k)).toEqual(['c', 'a']);
  });

  it('deleting while iterating oldest first, and down to empty', () => {
    const m = new RecencyMap<number>();
    for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
    for (const [k, v] of m.oldestFirst()) if (v % 2 === 0) m.delete(k);
    expect([...m.oldestFirst()].map(([, v]) => v)).toEqual([1, 3, 5, 7, 9]);
    for (const [k] of m.oldestFirst()) m.delete(k);
    expect(m.size).toBe(0);
    expect(m.oldestEntry()).toBeUndefined();
    m.set('x', 1);
    expect([...m.oldestFirst()]).toEqual([['x', 1]]);
    expect(m.has('x')).toBe(true);
    expect(m.delete('x')).toBe(true);
    expect(m.delete('x')).toBe(false);
  });

  it('keeps the most recent entries when a full table is reordered all the time', () => {
    // The access pattern that made Map.keys().next() scan its holes: touch, evict, insert.
    const m = new RecencyMap<number>();
    const max = 20_000;
    for (let i = 0; i < 200_000; i++) {
      m.touch(`k${i - 5}`);
      m.makeRoom(max);
      m.set(`k${i}`, i);
    }
    expect(m.size).toBe(max);
    expect(m.oldestEntry()![1]).toBeGreaterThan(200_000 - max - 10);
  });
});
