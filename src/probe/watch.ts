// The host's own view while probe runs: the observers (tc hooks on the
// probe namespace's interfaces, the kfree_skb tracepoint) see each ICMP
// error about a probe arrive and, when the kernel drops it, why. Kept here
// are only the errors that quote a probe (from src to dst, its protocol).

import type { Observer } from '../observer/index.js';
import type { PmtuEvent } from '../observer/events.js';
import type { SeenAnswer } from './packets.js';

export interface SeenError {
  /** Kernel CLOCK_MONOTONIC, µs (ProbeSocket's receipts' clock). */
  tsUs: number;
  /** 'arrived': on a tc ingress hook; 'dropped': kfree_skb. */
  what: 'arrived' | 'dropped';
  kind: SeenAnswer['kind'];
  from: string;
  mtu: number;
  iface: string;
  /** The drop reason's name (IP_RPFILTER, NETFILTER_DROP, ...). */
  reason?: string;
  /** The quoted probe's length: its size. */
  size: number;
}

/** rp_filter, firewall, or the kernel's drop reason in lower case. */
export function fateOfReason(reason: string): string {
  if (reason === 'IP_RPFILTER') return 'rp_filter';
  if (reason === 'NETFILTER_DROP') return 'firewall';
  return reason.toLowerCase();
}

function kindOf(family: 4 | 6, type: number, code: number): SeenAnswer['kind'] | undefined {
  if (family === 4) return type === 11 ? 'time-exceeded' : type === 3 && code === 4 ? 'too-big' : type === 3 ? 'unreachable' : undefined;
  return type === 3 ? 'time-exceeded' : type === 2 ? 'too-big' : type === 1 ? 'unreachable' : undefined;
}

export class ProbeWatch {
  readonly seen: SeenError[] = [];
  private readonly listener = (events: PmtuEvent[]) => this.take(events);

  constructor(
    private readonly observer: Observer | undefined,
    private readonly flow: { src: string; dst: string; proto: number },
  ) {
    observer?.on('events', this.listener);
  }

  get running(): boolean {
    return this.observer !== undefined;
  }

  take(events: readonly PmtuEvent[]): void {
    for (const ev of events) {
      const q = ev.inner;
      if (!q || !ev.outer || !ev.flags.icmpError && ev.kind !== 'ptb') continue;
      if (q.src !== this.flow.src || q.dst !== this.flow.dst || q.proto !== this.flow.proto) continue;
      const arrived = ev.kind === 'ptb' && ev.dir === 'ingress';
      const dropped = ev.kind === 'drop';
      if (!arrived && !dropped) continue;
      const kind = arrived ? 'too-big' : kindOf(ev.outer.family, ev.icmpType, ev.icmpCode);
      if (!kind) continue;
      this.seen.push({
        tsUs: Number(ev.tsNs / 1000n),
        what: arrived ? 'arrived' : 'dropped',
        kind,
        from: ev.outer.src,
        mtu: kind === 'too-big' ? ev.mtu : 0,
        iface: ev.ifname,
        ...(dropped ? { reason: this.observer?.namers.reasons.name(ev.reason) ?? String(ev.reason) } : {}),
        size: q.len,
      });
    }
  }

  /**
   * What the observers saw of an answer to a probe of `size` sent at sentUs
   * that did not reach the socket: a drop (its fate), else an arrival whose
   * fate nobody saw (not-seen).
   */
  answerFor(size: number, sentUs: number, untilUs: number): SeenAnswer | undefined {
    const mine = this.seen.filter((s) => s.size === size && s.tsUs >= sentUs && s.tsUs <= untilUs);
    const drop = mine.find((s) => s.what === 'dropped');
    const any = drop ?? mine[0];
    if (!any) return undefined;
    const a: SeenAnswer = { kind: any.kind, from: any.from, fate: drop ? fateOfReason(drop.reason ?? '') : 'not-seen', iface: any.iface };
    if (any.kind === 'too-big') a.mtu = any.mtu;
    return a;
  }

  close(): void {
    this.observer?.off('events', this.listener);
  }
}
