// Feeds crafted frames to the tc program through BPF_PROG_TEST_RUN and
// collects the events each one produced.

import { createRequire } from 'node:module';

import { ADDON_PATH, type NativeAddon } from '../../src/observer/addon.js';
import { decodeBatch } from '../../src/observer/decode.js';
import type { PmtuEvent } from '../../src/observer/events.js';
import type { Observer as NativeObserver, TestRunResult } from '../../native/index.js';
import { ether, icmpFragNeeded, ipv4, tcp } from './packets.js';

/** BPF_PROG_TEST_RUN's return for a tc program that returned TC_ACT_UNSPEC ("continue"). */
export const TC_ACT_UNSPEC = -1;

export interface FrameResult {
  run: TestRunResult;
  /** Events of the tc program for this frame. */
  events: PmtuEvent[];
}

export class TestRunner {
  private readonly native: NativeObserver;
  private readonly received: PmtuEvent[] = [];
  private marker = 0;

  /**
   * everyFlow (default true): every SYN and largest-size growth is an event,
   * which the parser tests compare field by field; false: the flow table's
   * own rules (test/bpf/flow-table.kernel.test.ts). flowTableEntries: the
   * flows the table is sized for (a bucket of eight ways when 4 or fewer).
   */
  constructor(options: { sizeReportMin?: number; everyFlow?: boolean; flowTableEntries?: number } = {}) {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    this.native = new addon.Observer({ everyFlow: true, ...options });
    this.native.start((records) => this.received.push(...decodeBatch(records).events));
  }

  /**
   * Runs one frame, then a marker PTB quoting a flow with a unique port (a PTB
   * is always reported, in every mode); everything that arrives before the
   * marker's event came from the frame.
   */
  /** The events of one frame, checking that the program let it pass unchanged, as it must every packet. */
  async passing(frame: Buffer, dir: 'ingress' | 'egress' = 'ingress'): Promise<PmtuEvent[]> {
    const { run, events } = await this.run(frame, dir);
    if (run.retval !== TC_ACT_UNSPEC) throw new Error(`the tc program returned ${run.retval}, not TC_ACT_UNSPEC (continue)`);
    if (!run.output.equals(frame)) throw new Error('the tc program changed the frame');
    return events;
  }

  async run(frame: Buffer, dir: 'ingress' | 'egress' = 'ingress'): Promise<FrameResult> {
    const run = this.native.testRun(dir, frame);
    const port = 1 + (this.marker++ % 65000);
    const src = '203.0.113.250';
    const dst = '203.0.113.251';
    const quoted = ipv4({ src: dst, dst: '203.0.113.252', proto: 6, df: true, payload: tcp({ src: dst, dst: '203.0.113.252', sport: 9, dport: port }) }).subarray(0, 28);
    this.native.testRun('ingress', ether(ipv4({ src, dst, proto: 1, payload: icmpFragNeeded(1400, quoted) })));
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = this.received.findIndex((e) => e.kind === 'ptb' && e.outer?.src === src && e.inner?.dport === port);
      if (i >= 0) {
        const events = this.received.splice(0, i + 1).slice(0, i);
        // Tracepoints keep reporting whatever else the machine does (and the
        // drop of each test-run frame once it is freed): only the tc
        // program's own events count, and test runs happen on loopback.
        return { run, events: events.filter((e) => e.dir !== null && e.ifname === 'lo') };
      }
      if (Date.now() > deadline) throw new Error('the marker event never arrived');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The native observer's traffic counters (the loopback hook's, for test runs). */
  traffic() {
    return this.native.traffic();
  }

  losses() {
    return this.native.losses();
  }

  stop(): void {
    this.native.stop();
  }
}
