// The Prober over the addon's ProbeSocket: one socket in the probe's
// namespace, connected to dst (it can send nowhere else), one probe at a
// time; what the socket does not get, the watch may have seen dropped.

import { isIP } from 'node:net';

import { PmtuError, fromNative } from '../errors.js';
import type { ProbeProto } from '../contract/probe.js';
import type { NativeAddon } from '../observer/addon.js';
import type { ProbeSocket } from '../../native/index.js';
import { answerOf, probeBytes, receiptSeq, type Answer, type Family, type ProbeIds } from './packets.js';
import type { Prober } from './search.js';
import type { ProbeWatch } from './watch.js';

const EMSGSIZE = 90;

/** Microseconds on CLOCK_MONOTONIC, the clock of the kernel's events and the socket's receipts. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export class SocketProber implements Prober {
  readonly ids: ProbeIds;
  private seq = 0;
  private readonly socket: ProbeSocket;
  /** How long after a probe's wait the observers' events are given to arrive. */
  private readonly settleMs = 30;
  watch: ProbeWatch | undefined;

  constructor(addon: Pick<NativeAddon, 'ProbeSocket'>, netnsPath: string | null, dst: string, proto: ProbeProto, port: number | null) {
    const family = isIP(dst) as Family;
    if (family !== 4 && family !== 6) throw new PmtuError('PMTU_ERR_USAGE', `not an IP address: ${dst}`);
    try {
      this.socket = new addon.ProbeSocket(netnsPath, dst, proto, port ?? 0);
    } catch (e) {
      throw fromNative(e);
    }
    // An echo identifier / TCP source port of our own, so answers to other tools are told apart.
    const id = 32768 + ((process.pid * 7919 + Date.now()) % 28000);
    this.ids = { family, proto, id, port: port ?? 0, src: this.socket.local(), dst };
  }

  now(): number {
    return Date.now();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  async probe(size: number, ttl: number, timeoutMs: number): Promise<Answer> {
    const seq = (this.seq = (this.seq + 1) & 0xffff);
    await this.drain();
    const sentUs = monotonicUs();
    const errno = this.socket.send(probeBytes(this.ids, seq, size), ttl);
    if (errno === EMSGSIZE) return { kind: 'local', errno };
    if (errno !== 0) throw new PmtuError('PMTU_ERR_INVALID', `cannot send a probe to ${this.ids.dst}: errno ${errno}`);
    const deadline = sentUs + timeoutMs * 1000;
    for (;;) {
      const left = Math.ceil((deadline - monotonicUs()) / 1000);
      if (left <= 0) break;
      const r = await this.socket.receive(left);
      if (!r) break;
      const got = receiptSeq(this.ids, r);
      if (got === undefined || (got !== -1 && got !== seq)) continue; // another tool's, or an earlier probe's late answer
      const a = answerOf(this.ids, r, sentUs);
      if (a) return a;
    }
    if (!this.watch?.running) return { kind: 'none' };
    await this.sleep(this.settleMs);
    const seen = this.watch.answerFor(size, sentUs, monotonicUs());
    return seen ? { kind: 'none', seen } : { kind: 'none' };
  }

  /** Whatever is still queued (late answers to earlier probes) goes before the next probe. */
  private async drain(): Promise<void> {
    for (let i = 0; i < 64; i++) if (!(await this.socket.receive(0))) return;
  }

  close(): void {
    this.socket.close();
  }
}
