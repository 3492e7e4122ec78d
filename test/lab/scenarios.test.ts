import { describe, expect, it } from 'vitest';

import { SCENARIOS, scenario } from '../../src/lab/scenarios.js';

describe('scenario registry', () => {
  it('has the ten scenarios of SCENARIOS.md, numbered 1 to 10, with unique names', () => {
    expect(SCENARIOS.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(SCENARIOS.map((s) => s.name)).size).toBe(10);
    for (const s of SCENARIOS) {
      expect(s.name).toMatch(/^[a-z0-9-]+$/);
      expect(s.title.length).toBeGreaterThan(5);
      expect(s.description.length).toBeGreaterThan(40);
    }
  });

  it('finds a scenario by name or number', () => {
    expect(scenario('rp-filter')?.number).toBe(3);
    expect(scenario('8')?.name).toBe('overlay');
    expect(scenario('nope')).toBeUndefined();
  });

  it('expects something of every scenario: a verdict with its place, or nothing but ok', () => {
    for (const s of SCENARIOS) {
      if (s.expected === 'all-ok') continue;
      expect(s.expected.verdict).toMatch(/^(ok|ptb-honored|ptb-dropped|local-bottleneck|silent-blackhole|mss-exceeds-path)$/);
      if (s.expected.verdict !== 'ok') expect(s.expected.where).toBeDefined();
    }
  });
});
