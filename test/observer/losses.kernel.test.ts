// Nothing is lost silently: when JavaScript falls behind, the batches the
// addon could not queue are counted, and what arrived plus what was counted
// accounts for every event the kernel produced.

import { createRequire } from 'node:module';

import { expect, it } from 'vitest';

import { ADDON_PATH, type NativeAddon } from '../../src/observer/addon.js';
import { decodeBatch } from '../../src/observer/decode.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { ether, ipv4, tcp, PROTO } from '../helpers/packets.js';

kernelDescribe(
  'loss accounting',
  () => {
    it('counts the batches a blocked JavaScript thread could not take', async () => {
      const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
      const native = new addon.Observer({ batchRecords: 8, maxQueuedBatches: 2 });
      const src = '203.0.113.77';
      let received = 0;
      native.start((records) => {
        received += decodeBatch(records).events.filter((e) => e.kind === 'syn' && e.outer?.src === src).length;
      });
      try {
        const n = 4000;
        // A synchronous loop: the event loop cannot take batches meanwhile.
        for (let i = 0; i < n; i++) {
          const seg = tcp({ src, dst: '203.0.113.78', sport: 1000 + (i % 50000), dport: 80, syn: true, mss: 1460 });
          native.testRun('ingress', ether(ipv4({ src, dst: '203.0.113.78', proto: PROTO.tcp, payload: seg })));
        }
        await new Promise((r) => setTimeout(r, 500));
        const l = native.losses();
        expect(l.queueFull).toBeGreaterThan(0);
        expect(received).toBeLessThan(n);
        // Other events of the machine may share the counters, never fewer.
        expect(received + l.queueFull + l.ringbufFull).toBeGreaterThanOrEqual(n);
        expect(l.delivered).toBeGreaterThanOrEqual(received);
      } finally {
        native.stop();
      }
    });
  },
  { requires: [needBtf, needAddon] },
);
