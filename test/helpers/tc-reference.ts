// What the tc program must report for a frame run through
// BPF_PROG_TEST_RUN: the rules (src/packet/tc-rules.ts, which `analyze` runs
// too) in the test-run context, the reference the fuzz test holds the kernel
// side to, field by field.
//
// The test-run context: the frame arrives on loopback (ifindex 1, MTU 65536)
// with a socket attached (so egress PTBs count as this host's own), never
// tagged out of band, never GSO; the largest DF packet per flow and
// direction reported when it grows, from sizeReportMin on (the program's
// every-flow mode: by default healthy flows report nothing, which
// test/bpf/flow-table.kernel.test.ts covers).

import type { Encap, EventFlags, EventKind, Flow } from '../../src/observer/events.js';
import { addrRange, describe, ETH_P_IP, ETH_P_IPV6, ptbKind, readFrame } from '../../src/packet/tc-rules.js';

export { SNAP_LEN } from '../../src/packet/tc-rules.js';

const LOOPBACK_MTU = 65536;
const ETH_HLEN = 14;

export interface ExpectedEvent {
  kind: EventKind;
  dir: 'ingress' | 'egress';
  flags: EventFlags;
  icmpType: number;
  icmpCode: number;
  mtu: number;
  len: number;
  mss: number;
  vlan: number;
  outer: Flow | null;
  inner: Flow | null;
  encap: Encap | null;
  snap: Buffer;
}

/** What BPF_PROG_TEST_RUN does with the frame: refuse it, or run it with this event (or none). */
export type Outcome = { refused: string } | { event: ExpectedEvent | null };

export class TcReference {
  /** Largest DF length reported per flow and hook, as the program's LRU map holds it (kept far below its 65536 entries). */
  private readonly largest = new Map<string, number>();

  constructor(private readonly sizeReportMin = 1280) {}

  /** Flows whose largest DF size is being tracked. */
  get trackedFlows(): number {
    return this.largest.size;
  }

  run(frame: Buffer, dir: 'ingress' | 'egress'): Outcome {
    // BPF_PROG_TEST_RUN's own checks, before the program runs.
    if (frame.length < ETH_HLEN) return { refused: 'shorter than an Ethernet header' };
    const type = frame.readUInt16BE(12);
    if (type === ETH_P_IP && frame.length < ETH_HLEN + 20) return { refused: 'IPv4 frame shorter than an IPv4 header' };
    if (type === ETH_P_IPV6 && frame.length < ETH_HLEN + 40) return { refused: 'IPv6 frame shorter than an IPv6 header' };

    const w = readFrame(frame);
    if (!w) return { event: null };
    let kind: EventKind;
    if (w.ptb) {
      kind = ptbKind(dir, w.family);
    } else if (w.syn) {
      kind = 'syn';
    } else if (w.df && w.l3Len >= this.sizeReportMin) {
      // The flow table keeps one largest size per flow and direction, whichever hook saw it.
      const a = addrRange(w);
      const key = `${w.family}|${w.proto}|${frame.toString('hex', a.src, a.src + a.n)}|${frame.toString('hex', a.dst, a.dst + a.n)}|${w.sport}|${w.dport}`;
      if ((this.largest.get(key) ?? -1) >= w.l3Len) return { event: null };
      this.largest.set(key, w.l3Len);
      kind = 'size';
    } else {
      return { event: null };
    }
    const r = describe(frame, w, kind);
    return {
      event: {
        kind,
        dir,
        flags: { ...r.flags, local: kind !== 'size' && dir === 'egress' },
        icmpType: r.icmpType,
        icmpCode: r.icmpCode,
        mtu: r.ptbMtu ?? LOOPBACK_MTU,
        len: r.len,
        mss: r.mss,
        vlan: r.vlan,
        outer: r.outer,
        inner: r.inner,
        encap: r.encap,
        snap: Buffer.from(r.snap),
      },
    };
  }
}
