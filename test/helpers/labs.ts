// Labs for a kernel test file: stale labs of dead runs reaped before it,
// every lab a test made torn down after it (whether it passed or not).

import { afterEach, beforeAll } from 'vitest';

import { NetLab, reapStale } from '../../src/lab/netlab.js';

export function useLabs(): { create(tag: string): Promise<NetLab> } {
  const made: NetLab[] = [];
  beforeAll(async () => {
    await reapStale();
  });
  afterEach(async () => {
    await Promise.all(made.splice(0).map((lab) => lab.teardown()));
  });
  return {
    async create(tag) {
      const lab = await NetLab.create(tag);
      made.push(lab);
      return lab;
    },
  };
}
