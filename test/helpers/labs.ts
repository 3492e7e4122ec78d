// Labs for kernel test files: stale labs of dead runs reaped before a file,
// every lab a test made torn down after it (whether it passed or not), and
// the questions tests ask a namespace (route cache, counters).

import { afterEach, beforeAll } from 'vitest';

import { NetLab, reapStale } from '../../src/lab/netlab.js';

/** `ip route get DST` in a namespace, on one line (a cached path MTU shows as `mtu N`). */
export async function routeGet(lab: NetLab, ns: string, dst: string): Promise<string> {
  const r = await lab.exec(ns, ['ip', 'route', 'get', dst], { check: true });
  return r.stdout.replace(/\s+/g, ' ').trim();
}

/** A counter from `nstat -asz NAME` in the namespace (absolute value). */
export async function nstat(lab: NetLab, ns: string, name: string): Promise<number> {
  const r = await lab.exec(ns, ['nstat', '-a', '-s', '-z', name], { check: true });
  const m = new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

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
