// What verifying the BPF programs costs the kernel, for the settings that
// change what is verified (they are read-only data, constants to the
// verifier, so each is its own verification). A program near the
// verifier's limit of 1M processed instructions loads here and is refused by
// the next kernel, or by the next change: a flow-table loop inlined once
// took the tc program to 987k.

import { createRequire } from 'node:module';

import { expect, it } from 'vitest';

import { ADDON_PATH, type NativeAddon } from '../../src/observer/addon.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';

/** A quarter of BPF_COMPLEXITY_LIMIT_INSNS. */
const BUDGET = 250_000;

kernelDescribe(
  'the verifier on the BPF programs',
  () => {
    const settings = [
      { what: 'the smallest flow table (one bucket)', options: { flowTableEntries: 4 } },
      { what: 'the defaults', options: {} },
      { what: '--every-flow', options: { everyFlow: true } },
    ];
    for (const { what, options } of settings) {
      it(`${what}: every program verified in under ${BUDGET} instructions`, () => {
        const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
        const native = new addon.Observer(options);
        native.start(() => undefined);
        try {
          const programs = native.programs();
          expect(programs.map((p) => p.name)).toEqual(expect.arrayContaining(['pmtu_tc_ingress', 'pmtu_tc_egress', 'pmtu_kfree_skb']));
          for (const p of programs) {
            expect(p.verifiedInsns, p.name).toBeGreaterThan(0);
            expect(p.verifiedInsns, p.name).toBeLessThan(BUDGET);
          }
          console.log(`[verifier] ${what}: ${programs.map((p) => `${p.name} ${p.verifiedInsns}`).join(', ')}`);
        } finally {
          native.stop();
        }
      });
    }
  },
  { requires: [needBtf, needAddon] },
);
