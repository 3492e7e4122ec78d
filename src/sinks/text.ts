// Plain output for a person: a flow's verdict once it has held for SETTLE_MS
// of the source's time (evidence arrives in bursts; a person wants the
// conclusion, not each step), and with `events` every event as a line too.
// Healthy flows stay quiet (a busy host opens many); one that recovers says so.
// The same for the kernel (wall clock) and a capture (its own time).

import { flowKey } from '../correlate/correlator.js';
import type { LinkEventJson, StreamEvent } from '../contract/event.js';
import { eventText, linkText, verdictText } from '../contract/text.js';
import type { VerdictCode, VerdictJson } from '../contract/verdict.js';
import type { Lines } from './output.js';
import type { Sink } from './sink.js';

/** How long a verdict must hold before it is printed. */
export const SETTLE_MS = 250;
/** Flows whose printed verdict is remembered (to say a recovery); bounded, at worst a recovery goes unsaid. */
const MAX_REMEMBERED = 65536;

export interface SettledTextOptions {
  /** Every event as a line too (--events). */
  events?: boolean;
  /** How long a verdict must hold; default SETTLE_MS (analyze of several capture points waits out a packet's window too). */
  settleMs?: number;
}

export class SettledText implements Sink {
  private readonly settling = new Map<string, { v: VerdictJson; at: number }>();
  private readonly printed = new Map<string, VerdictCode>();
  private readonly settleMs: number;

  /** Every event as a line (--events); absent otherwise, so that a session knows no sink takes events. */
  readonly event?: (ev: StreamEvent) => void;

  /** Link changes are rare and always news (a port's MTU reset, a guest port out of its bridge): printed with or without --events. */
  link(ev: LinkEventJson): void {
    this.out.line(linkText(ev));
  }

  /** `now`: the source's time (epoch ms). */
  constructor(
    private readonly out: Lines,
    private readonly now: () => number,
    opts: SettledTextOptions = {},
  ) {
    this.settleMs = opts.settleMs ?? SETTLE_MS;
    if (opts.events) {
      this.event = (ev) => {
        if (ev.kind !== 'route' && ev.kind !== 'link') this.out.line(eventText(ev));
      };
    }
  }

  verdict(v: VerdictJson): void {
    this.settling.set(flowKey(v.flow), { v, at: this.now() });
  }

  tick(now: number): void {
    this.settle(now);
  }

  end(): void {
    this.settle(Infinity);
  }

  behind(): number {
    return this.out.dropped;
  }

  ready(): Promise<void> | undefined {
    return this.out.ready?.();
  }

  private settle(now: number): void {
    for (const [key, { v, at }] of this.settling) {
      if (now - at < this.settleMs) continue;
      this.settling.delete(key);
      const before = this.printed.get(key);
      if (v.verdict === 'ok' && (before === undefined || before === 'ok')) continue;
      if (this.printed.size > MAX_REMEMBERED) this.printed.clear();
      this.printed.set(key, v.verdict);
      this.out.line(verdictText(v));
    }
  }
}
