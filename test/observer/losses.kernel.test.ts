// Nothing is lost silently: when JavaScript falls behind, the batches the
// addon could not queue are counted; when the ring buffer is full, the
// records the kernel could not reserve are; and what arrived plus what was
// counted accounts for every event the kernel produced — also through
// `live --json` whose reader stops reading during a PTB flood.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

import { expect, it } from 'vitest';

import { ADDON_PATH, type NativeAddon } from '../../src/observer/addon.js';
import type { ObserverOptions } from '../../native/index.js';
import { decodeBatch, RECORD_SIZE } from '../../src/observer/decode.js';
import { waitFor } from '../../src/lab/traffic.js';
import { ptbFlood, victimAndAttacker } from '../helpers/flood.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, events, observerAttached, type JsonLine } from '../helpers/live.js';
import { ether, ipv4, tcp, PROTO } from '../helpers/packets.js';

kernelDescribe(
  'loss accounting',
  () => {
    /**
     * n SYNs from src through test runs in a synchronous loop, so the event
     * loop cannot take batches meanwhile; then half a second to catch up.
     * Returns how many of them JavaScript received, and the losses.
     */
    async function synsWhileBlocked(options: ObserverOptions, src: string, n: number) {
      const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
      const native = new addon.Observer({ everyFlow: true, ...options }) // every SYN a record: the load;
      const dst = '203.0.113.78';
      let received = 0;
      native.start((records) => {
        received += decodeBatch(records).events.filter((e) => e.kind === 'syn' && e.outer?.src === src).length;
      });
      try {
        for (let i = 0; i < n; i++) {
          const seg = tcp({ src, dst, sport: 1000 + (i % 50000), dport: 80, syn: true, mss: 1460 });
          native.testRun('ingress', ether(ipv4({ src, dst, proto: PROTO.tcp, payload: seg })));
        }
        await new Promise((r) => setTimeout(r, 500));
        return { received, losses: native.losses() };
      } finally {
        native.stop();
      }
    }

    it('counts the batches a blocked JavaScript thread could not take', async () => {
      const n = 4000;
      const { received, losses: l } = await synsWhileBlocked({ batchRecords: 8, maxQueuedBatches: 2 }, '203.0.113.77', n);
      expect(l.queueFull).toBeGreaterThan(0);
      expect(received).toBeLessThan(n);
      // Other events of the machine may share the counters, never fewer.
      expect(received + l.queueFull + l.ringbufFull).toBeGreaterThanOrEqual(n);
      expect(l.delivered).toBeGreaterThanOrEqual(received);
    });

    it('bounds what waits for a blocked JavaScript thread by records (maxQueuedRecords), counting the rest', async () => {
      const n = 4000;
      // A small ring buffer: what the drain thread had not read yet when the loop ended (a loaded machine lags) is bounded too.
      const ringBufferBytes = 16384;
      const opts = { batchRecords: 8, maxQueuedBatches: 10_000, maxQueuedRecords: 100, ringBufferBytes };
      const { received, losses: l } = await synsWhileBlocked(opts, '203.0.113.79', n);
      // At most 100 records were waiting when the loop ended, however many batches that was, and at most a ring's worth behind them.
      expect(received).toBeLessThanOrEqual(100 + Math.floor(ringBufferBytes / RECORD_SIZE));
      expect(received).toBeGreaterThan(0);
      expect(received + l.queueFull + l.ringbufFull).toBeGreaterThanOrEqual(n);
    });

    it('counts the records a full ring buffer had no room for', async () => {
      const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
      const native = new addon.Observer({ ringBufferBytes: 4096, everyFlow: true }); // room for about a dozen records
      const src = '203.0.113.79';
      let received = 0;
      native.start((records) => {
        received += decodeBatch(records).events.filter((e) => e.kind === 'syn' && e.outer?.src === src).length;
      });
      try {
        const n = 5000;
        const seg = tcp({ src, dst: '203.0.113.80', sport: 1000, dport: 80, syn: true, mss: 1460 });
        // One system call runs the program n times: nothing can drain in between.
        native.testRun('ingress', ether(ipv4({ src, dst: '203.0.113.80', proto: PROTO.tcp, payload: seg })), n);
        await new Promise((r) => setTimeout(r, 300));
        const l = native.losses();
        expect(l.ringbufFull).toBeGreaterThan(0);
        expect(received).toBeLessThan(n);
        expect(received + l.ringbufFull + l.queueFull).toBeGreaterThanOrEqual(n);
      } finally {
        native.stop();
      }
    });
  },
  { requires: [needBtf, needAddon] },
);

kernelDescribe(
  'losses through live --json',
  () => {
    const labs = useLabs();

    it('a reader that stops reading during a PTB flood: what live printed plus the losses in its last stats account for every PTB, and it stops cleanly', async () => {
      const lab = await labs.create('lossy');
      const { victim, attacker, addrs } = await victimAndAttacker(lab);
      const child = spawn(process.execPath, [BIN, 'live', '--json', '--netns', victim, '--duration', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: JsonLine[] = [];
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as JsonLine));
      const exited = once(child, 'exit');
      let sent = 0;
      try {
        await waitFor(() => lines.some((l) => l.type === 'stats'), 15_000);
        await waitFor(() => observerAttached(lab, victim, 'eth0'), 10_000);
        // A pipe nobody reads fills: live drops (and counts) lines instead of waiting, while the kernel keeps reporting.
        child.stdout.pause();
        const r = await ptbFlood(lab, attacker, { ...addrs, seconds: 1.5, maxPackets: 300_000, genuineEvery: 1e9 });
        sent = r.v4 + r.v6 + r.genuine;
        child.stdout.resume();
        await waitFor(() => lines.length > 0 && child.stdout.readableLength === 0, 10_000);
      } finally {
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      // live never waits for its reader: what the pipe could not take is dropped, counted and said.
      for (const l of stderr.trim().split('\n').filter(Boolean)) expect(l).toMatch(/^pmtu-watch: warning: \d+ output lines dropped/);
      const final = lines.filter((l) => l.type === 'stats').at(-1) as JsonLine & { losses: { ringbufFull: number; queueFull: number; sinkBehind: number }; flows: { unmatched: number } };
      const printed = events({ lines }).filter((e) => e.kind === 'ptb' && e.netns === victim).length;
      const lost = final.losses.ringbufFull + final.losses.queueFull + final.losses.sinkBehind;
      console.log(
        `[losses] ${sent} PTBs sent while the reader stopped: ${printed} printed, ${final.losses.ringbufFull} lost to a full ring buffer, ${final.losses.queueFull} to a full queue, ` +
          `${final.losses.sinkBehind} lines the reader did not take; ${final.flows.unmatched} unmatched`,
      );
      expect(lost).toBeGreaterThan(0);
      expect(printed + lost).toBeGreaterThanOrEqual(sent);
      expect(final.flows.unmatched).toBeGreaterThanOrEqual(printed);
    }, 90_000);
  },
  { requires: [needBtf, needLabTools, needCommands('python3'), needAddon] },
);
